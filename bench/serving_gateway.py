"""Predict through the gateway against the same model's predictor in process, on the platform as `make up`
runs it (five service processes, a local Ray Serve), with Ray Serve's throughput-optimized mode off and then
on (``RAY_SERVE_THROUGHPUT_OPTIMIZED``: gRPC between handles and replicas, fewer threads on the request path),
each on a fresh platform, in one run:

- a MiniLM-L6 last-layer model trained through the API on the SMS spam collection (its first ``--rows``);
- deployed twice, one replica each: by default (the org's shared-encoder app of its base model) and with
  ``share_base: false`` (replicas of its own);
- single-text predict, sequential requests (a keep-alive connection a path, the paths taken in turn), p50
  and p99 of each, against the predictor called in this process with the replica's torch threads. Target:
  p50 within 4 ms of it;
- where the difference goes: the same predict sent to inference-svc itself (as the gateway sends it, with the
  internal token and the caller's org), so the gateway's hop and inference-svc's (its route, the Serve handle,
  the replica) are told apart.

Run: `python -m bench.serving_gateway [--rows 1000] [--requests 500]` (about 5 min); `bench.serving_scale` runs it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import tempfile
from dataclasses import dataclass
from pathlib import Path

import httpx

from automl_client import Client
from automl_common.context import INTERNAL_TOKEN_HEADER, ORG_ID_HEADER
from bench.inference import REPLICA_TORCH_THREADS, deploy, in_process, typical_text, wait_ready
from bench.loadgen import LatencyResult, build_request, measure_interleaved
from bench.platform_procs import HOST, local_platform
from deploy.local import demo

TARGET_MS = 4.0
MODE = "RAY_SERVE_THROUGHPUT_OPTIMIZED"


@dataclass(frozen=True)
class Figures:
    throughput_optimized: bool
    shared: LatencyResult  # through the gateway, the shared-encoder app
    own: LatencyResult  # through the gateway, a replica of the model's own
    in_process: LatencyResult
    shared_direct: LatencyResult  # to inference-svc itself, the shared-encoder app
    own_direct: LatencyResult  # to inference-svc itself, the model's own replica


def measure(throughput_optimized: bool, rows: int, requests: int) -> Figures:
    data_dir = Path(tempfile.mkdtemp(prefix="bench-serving-gateway-"))
    settings = {
        "AUTOML_INFERENCE_REPLICA_TORCH_THREADS": str(REPLICA_TORCH_THREADS),
        # The limiter still runs on every request; the limit is only set high enough not to refuse any.
        "AUTOML_GATEWAY_RATE_LIMIT_PER_S": "1000000",
        "AUTOML_GATEWAY_RATE_LIMIT_BURST": "1000000",
        "AUTOML_LOG_LEVEL": "INFO",  # access logs on, as in production
        MODE: "1" if throughput_optimized else "0",
    }
    text = typical_text()
    with local_platform(data_dir, **settings) as platform:
        auth = {"Authorization": f"Bearer {platform.admin_key}"}
        with httpx.Client(base_url=platform.gateway_url, headers=auth, timeout=600) as client:
            org_id = client.get("/v1/orgs/me").json()["id"]
            with contextlib.redirect_stdout(io.StringIO()), Client(platform.gateway_url, platform.admin_key) as sdk:
                model_id = demo.train(sdk, demo.sms_snapshot(sdk, rows))
            shared = deploy(client, model_id, "shared", 16, share_base=None)
            own = deploy(client, model_id, "own", 16, share_base=False)
            wait_ready(client, shared)
            wait_ready(client, own)
            assert client.get(f"/v1/deployments/{shared}").json()["share_base"], "a last-layer model shares by default"

            internal = {
                INTERNAL_TOKEN_HEADER: (platform.data_dir / "internal.token").read_text().strip(),
                ORG_ID_HEADER: org_id,
            }
            inference_port = platform.ports["AUTOML_INFERENCE_"]

            def predict(deployment_id: str, port: int, headers: dict[str, str]) -> tuple[int, bytes]:
                path = f"/v1/deployments/{deployment_id}/predict"
                return port, build_request(HOST, port, path, headers, method="POST", json_body={"inputs": [text]})

            gateway = platform.gateway_port
            paths = {
                "shared": predict(shared, gateway, auth),
                "own": predict(own, gateway, auth),
                "shared_direct": predict(shared, inference_port, internal),
                "own_direct": predict(own, inference_port, internal),
            }
            found = asyncio.run(measure_interleaved(HOST, paths, count=requests, warmup=20))
            local = in_process(platform, org_id, model_id, text, requests)
    return Figures(
        throughput_optimized, found["shared"], found["own"], local.latency, found["shared_direct"], found["own_direct"]
    )


def report(figures: list[Figures]) -> None:
    for each in figures:
        mode = f"{MODE}={'1' if each.throughput_optimized else '0'}"
        base = each.in_process.p50_ms
        print(f"predict through the gateway, {mode} (replica and in-process: {REPLICA_TORCH_THREADS} torch thread):")
        for name, result, direct in (
            ("shared-encoder app", each.shared, each.shared_direct),
            ("own replica", each.own, each.own_direct),
        ):
            print(
                f"  {name:18s} p50 {result.p50_ms:7.2f} ms  p99 {result.p99_ms:7.2f} ms  "
                f"p50 {result.p50_ms - base:+.2f} ms over in process (target <= +{TARGET_MS:g} ms): "
                f"the gateway's hop {result.p50_ms - direct.p50_ms:+.2f} ms, inference-svc and Serve "
                f"{direct.p50_ms - base:+.2f} ms (inference-svc directly: p50 {direct.p50_ms:.2f} ms)"
            )
        print(f"  in-process predictor p50 {base:7.2f} ms  p99 {each.in_process.p99_ms:7.2f} ms")
    if len(figures) == 2:
        off, on = figures
        print(
            f"{MODE} on/off, p50 through the gateway: shared {on.shared.p50_ms / off.shared.p50_ms:.2f}x, "
            f"own replica {on.own.p50_ms / off.own.p50_ms:.2f}x (below 1: on is faster)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1000, help="train on the first N messages")
    parser.add_argument("--requests", type=int, default=500, help="sequential requests for each latency")
    args = parser.parse_args()
    report([measure(mode, args.rows, args.requests) for mode in (False, True)])


if __name__ == "__main__":
    main()
