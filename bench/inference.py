"""Inference on the whole platform as `make up` runs it (five service processes, a local Ray Serve), with a
MiniLM-L6 model trained through the API on the SMS spam collection (last layer, as `make demo`), in one run:

- single-text predict through the gateway (gateway → inference-svc → Serve handle → replica), sequential
  requests on one connection, p50 and p99, against the same model's predictor called in-process (the same
  artifacts and code the replica runs, with the replica's torch threads). Target: p50 ≤ in-process + 10 ms.
- throughput at concurrency 32 (single-text requests) on a deployment with dynamic batching
  (`max_batch_size` 32) against the same model deployed with batching off (`max_batch_size` 1), one replica
  each. Target: ≥ 3x.
- the playground: the first call on a cold model (its shared Serve app started and the model loaded on
  demand), then warm calls. Target: warm p50 < 50 ms.

Run: `make bench` or `python -m bench.inference [--requests N] [--seconds S]` (about 4 min).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import torch

from automl_client import Client
from automl_common.context import INTERNAL_TOKEN_HEADER, ORG_ID_HEADER
from automl_common.storage import StoreConfig
from automl_proto.inference import ModelArtifacts
from bench.loadgen import LatencyResult, build_request, measure_latency, measure_throughput
from bench.platform_procs import HOST, LocalPlatform, local_platform
from deploy.local import demo
from deploy.local.sms_spam import rows as sms_rows
from inference_svc.serving.loader import ModelSource, fetch_model_files
from inference_svc.settings import InferenceSettings
from modelkit.predict import ClassifierPredictor

CONCURRENCY = 32
REPLICA_TORCH_THREADS = 1  # the default; 2 on this 2-core machine lost to the services for the CPU under load


def typical_text() -> str:
    """An SMS of median length."""
    texts = sorted((text for _, text in sms_rows()), key=len)
    return texts[len(texts) // 2]


def deploy(client: httpx.Client, model_id: str, name: str, max_batch_size: int, share_base: bool | None = False) -> str:
    """One replica (``share_base`` False: its own, whose batching the throughput figures compare; None: the
    platform's default for the model)."""
    request = {"model_id": model_id, "name": name, "min_replicas": 1, "max_replicas": 1}
    created = client.post(
        "/v1/deployments",
        json=request | {"max_batch_size": max_batch_size} | ({} if share_base is None else {"share_base": share_base}),
    )
    created.raise_for_status()
    return str(created.json()["id"])


def wait_ready(client: httpx.Client, deployment_id: str) -> None:
    with Client(str(client.base_url), client.headers["authorization"].split()[-1], timeout_s=600) as sdk:
        sdk.deployments.wait(deployment_id, timeout_s=1800)  # ResourceFailed if it did not come up


@dataclass(frozen=True)
class InProcess:
    latency: LatencyResult
    single_ms: float  # the fastest single-text pass
    batched_ms_per_text: float  # the fastest pass over CONCURRENCY texts, per text

    @property
    def batching_ceiling(self) -> float:
        """What batching can gain in the model itself: no serving stack gets more."""
        return self.single_ms / self.batched_ms_per_text


def in_process(platform: LocalPlatform, org_id: str, model_id: str, text: str, count: int) -> InProcess:
    """The model's predictor in this process, loaded from the platform's object store like a replica does."""
    internal = (platform.data_dir / "internal.token").read_text().strip()
    trainer = f"http://{HOST}:{platform.ports['AUTOML_TRAINER_']}"
    answer = httpx.get(
        f"{trainer}/internal/models/{model_id}/artifacts",
        headers={INTERNAL_TOKEN_HEADER: internal, ORG_ID_HEADER: org_id},
    )
    answer.raise_for_status()
    settings = InferenceSettings(mode="local", data_dir=platform.data_dir)
    source = ModelSource(
        artifacts=ModelArtifacts.model_validate(answer.json()),
        store=StoreConfig.of(settings),
        cache_dir=platform.data_dir / "bench-cache",
    )

    model_dir, base_dir = asyncio.run(fetch_model_files(source))
    torch.set_num_threads(REPLICA_TORCH_THREADS)
    predictor = ClassifierPredictor.load(model_dir, base_dir)  # and called on this thread, plainly
    samples = timed(lambda: predictor.predict([text]), count)
    per_text_batched = min(timed(lambda: predictor.predict([text] * CONCURRENCY), 20)) / CONCURRENCY
    return InProcess(
        LatencyResult(
            p50_ms=samples[len(samples) // 2],
            p99_ms=samples[int(len(samples) * 0.99)],
            mean_ms=statistics.fmean(samples),
            count=count,
        ),
        single_ms=min(samples),
        batched_ms_per_text=per_text_batched,
    )


def timed(call: Callable[[], object], count: int) -> list[float]:
    for _ in range(5):
        call()
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return sorted(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=500, help="sequential requests for latency")
    parser.add_argument("--seconds", type=float, default=15.0, help="duration of each throughput run")
    parser.add_argument("--rows", type=int, default=None, help="train on the first N messages only (a quick run)")
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="bench-inference-"))
    settings = {
        "AUTOML_INFERENCE_REPLICA_TORCH_THREADS": str(REPLICA_TORCH_THREADS),
        "AUTOML_GATEWAY_PLAYGROUND_QUOTA": "100000",
        # The limiter still runs on every request; the limit is only set high enough not to refuse any.
        "AUTOML_GATEWAY_RATE_LIMIT_PER_S": "1000000",
        "AUTOML_GATEWAY_RATE_LIMIT_BURST": "1000000",
        "AUTOML_LOG_LEVEL": "INFO",  # access logs on, as in production
    }
    text = typical_text()
    print(f"platform starting under {data_dir}; input: {len(text)} characters ({text[:40]!r}...)", flush=True)
    with local_platform(data_dir, **settings) as platform:
        auth = {"Authorization": f"Bearer {platform.admin_key}"}
        with httpx.Client(base_url=platform.gateway_url, headers=auth, timeout=600) as client:
            org_id = client.get("/v1/orgs/me").json()["id"]
            started = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()), Client(platform.gateway_url, platform.admin_key) as sdk:
                snapshot_id = demo.sms_snapshot(sdk, args.rows)
                model_id = demo.train(sdk, snapshot_id)
            print(f"model {model_id} trained in {time.perf_counter() - started:.1f} s", flush=True)

            started = time.perf_counter()
            cold = client.post(f"/v1/models/{model_id}/playground", json={"input": text})
            cold.raise_for_status()
            cold_ms = (time.perf_counter() - started) * 1000
            playground = build_request(
                HOST,
                platform.gateway_port,
                f"/v1/models/{model_id}/playground",
                auth,
                method="POST",
                json_body={"input": text},
            )
            warm = asyncio.run(measure_latency(HOST, platform.gateway_port, playground, count=200, warmup=10))

            batched = deploy(client, model_id, "batched", CONCURRENCY)
            unbatched = deploy(client, model_id, "unbatched", 1)
            wait_ready(client, batched)
            wait_ready(client, unbatched)

            def predict(deployment_id: str) -> bytes:
                return build_request(
                    HOST,
                    platform.gateway_port,
                    f"/v1/deployments/{deployment_id}/predict",
                    auth,
                    method="POST",
                    json_body={"inputs": [text]},
                )

            through = asyncio.run(
                measure_latency(HOST, platform.gateway_port, predict(batched), count=args.requests, warmup=50)
            )
            local = in_process(platform, org_id, model_id, text, args.requests)
            direct = local.latency

            rates = {}
            for name, deployment_id in (("batching", batched), ("no batching", unbatched)):
                raw = predict(deployment_id)
                asyncio.run(measure_throughput(HOST, platform.gateway_port, raw, concurrency=CONCURRENCY, seconds=3))
                rates[name] = asyncio.run(
                    measure_throughput(HOST, platform.gateway_port, raw, concurrency=CONCURRENCY, seconds=args.seconds)
                )

    overhead = through.p50_ms - direct.p50_ms
    ratio = rates["batching"].requests_per_s / rates["no batching"].requests_per_s
    threads = f"replica and in-process: {REPLICA_TORCH_THREADS} torch threads"
    print(f"\nsingle-text predict, {args.requests} sequential requests ({threads})")
    print(f"  through the gateway   p50 {through.p50_ms:7.2f} ms   p99 {through.p99_ms:7.2f} ms")
    print(f"  in-process predictor  p50 {direct.p50_ms:7.2f} ms   p99 {direct.p99_ms:7.2f} ms")
    print(f"  p50 overhead {overhead:+.2f} ms (target ≤ +10 ms); p50 ratio {through.p50_ms / direct.p50_ms:.2f}")
    print(f"throughput at concurrency {CONCURRENCY}, single-text requests, 1 replica, {args.seconds:g} s each")
    for name, rate in rates.items():
        print(f"  {name:12s} {rate.requests_per_s:8.1f} req/s  ({rate.count} answered, {rate.errors} errors)")
    print(f"  ratio {ratio:.2f}x (target ≥ 3x)")
    print(
        f"  the model alone, in-process: {local.single_ms:.2f} ms for one text, {local.batched_ms_per_text:.2f} ms per "
        f"text in a batch of {CONCURRENCY}: batching gains at most {local.batching_ceiling:.2f}x on this CPU"
    )
    print("playground")
    print(f"  first call on a cold model (app start + model load): {cold_ms:.0f} ms")
    print(f"  warm, 200 sequential calls: p50 {warm.p50_ms:.2f} ms, p99 {warm.p99_ms:.2f} ms (target p50 < 50 ms)")


if __name__ == "__main__":
    main()
