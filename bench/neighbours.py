"""Noisy neighbours, on the whole platform as `make up` runs it (five service processes, a local Ray Serve):
what hostile tenants cost the others. 50 clients from 5 addresses, sent as a proxy forwards them
(``X-Forwarded-For``; the gateway trusts 127.0.0.1 as it trusts the chart's Ingress):

- 46 API clients in 5 orgs, each reading its models (``GET /v1/models``) every 0.5 s;
- 2 playground clients of one org chatting with its LoRA SmolLM2-135M model (8 tokens a reply, every 0.5 s);
- hostile: 1 client sending made-up, well-formed keys (each a lookup) as fast as it is answered, from the
  address of 10 of the API clients; 1 org holding long generations on the same shared playground replica
  (its own LoRA model of the same base: two 1024-token streams at once, its bound, over and over).

Four phases of the same length: quiet (the 48 alone), bad keys, long generations, both. For the 48: p50 and
p99 of each kind of call, and the error rate (any status >= 400 or a failed connection), each phase's ratio
to the quiet one, measured in the same run; a call counts in the phase it began in. The bad keys' answers and
the long generations' tokens are printed too. The shared replica generates one reply at a time, in slices: a
long reply yields to a waiting one after ``GENERATION_SLICE_S``.

Run: `make bench` or `python -m bench.neighbours [--seconds S] [--slice-s S]` (about 5 min: two SmolLM2 LoRA
models are trained first); `--slice-s 3600` serves replies whole, one after another, as before slices.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import secrets
import statistics
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.platform_procs import LocalPlatform, local_platform
from tests.support.llm import llm_request, llm_snapshot, yes_no_records
from tests.support.platform import OrgClient
from tests.support.training import wait_model

ADDRESSES = [f"198.51.100.{index}" for index in range(1, 6)]
API_CLIENTS, PLAYGROUND_CLIENTS = 46, 2
API_ORGS = 5
API_PAUSE_S, PLAYGROUND_PAUSE_S = 0.5, 0.5
SHORT = {"messages": [{"role": "user", "content": "is it good"}], "max_tokens": 8, "temperature": 0}
LONG = {
    "messages": [{"role": "user", "content": "tell me a long story about a lighthouse"}],
    "max_tokens": 1024,
    "temperature": 1.0,
    "stream": True,
}


@dataclass
class Calls:
    """What the well-behaved clients saw in one phase, per kind of call."""

    latencies_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    statuses: dict[str, dict[int, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))

    def add(self, kind: str, started: float, status: int) -> None:
        """A call begun at ``started`` (in this phase), answered now with ``status`` (0: no answer)."""
        self.latencies_ms[kind].append((time.perf_counter() - started) * 1000)
        self.statuses[kind][status] += 1
        if status >= 400 or status == 0:
            self.errors[kind] += 1

    def figures(self, kind: str) -> tuple[float, float, float, int]:
        """(p50 ms, p99 ms, error rate, calls)."""
        samples = sorted(self.latencies_ms[kind])
        if not samples:
            return 0.0, 0.0, 0.0, 0
        p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
        return statistics.median(samples), p99, self.errors[kind] / len(samples), len(samples)


@dataclass
class Hostile:
    bad_keys: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    long_replies: int = 0
    long_tokens: int = 0
    long_failures: int = 0


async def org_client(platform: LocalPlatform, operator_key: str, name: str) -> OrgClient:
    async with httpx.AsyncClient(base_url=platform.gateway_url, timeout=30) as operator:
        created = await operator.post(
            "/v1/orgs", json={"name": name}, headers={"Authorization": f"Bearer {operator_key}"}
        )
        created.raise_for_status()
        body = created.json()
    return OrgClient(platform.gateway_url, body["id"], body["admin_key"])


async def train_llm(org: OrgClient, seed: int) -> str:
    """A LoRA SmolLM2-135M model of the org, trained for one short epoch: what matters here is serving it."""
    snapshot = await llm_snapshot(
        org, yes_no_records(24, seed=seed, overlong=False), prompt_column="prompt", completion_column="completion"
    )
    request = llm_request("smollm2-135m", snapshot["id"], "lora", max_epochs=1, batch_size=8, max_length=64)
    created = await org.post("/v1/models", json=request)
    created.raise_for_status()
    model = await wait_model(org, created.json()["id"], timeout_s=900)
    if model["status"] != "succeeded":
        raise RuntimeError(f"training failed: {model}")
    return str(model["id"])


def forwarded(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


async def api_client(org: OrgClient, address: str, calls: list[Calls], stop: asyncio.Event) -> None:
    await asyncio.sleep(random.uniform(0, API_PAUSE_S))
    while not stop.is_set():
        phase, started = calls[-1], time.perf_counter()
        try:
            status = (await org.get("/v1/models", params={"limit": 5}, headers=forwarded(address))).status_code
        except httpx.HTTPError:
            status = 0
        phase.add("api", started, status)
        await asyncio.sleep(API_PAUSE_S)


async def playground_client(
    org: OrgClient, model_id: str, address: str, calls: list[Calls], stop: asyncio.Event
) -> None:
    path = f"/v1/models/{model_id}/playground/chat/completions"
    while not stop.is_set():
        phase, started = calls[-1], time.perf_counter()
        try:
            status = (await org.post(path, json=SHORT, headers=forwarded(address), timeout=120)).status_code
        except httpx.HTTPError:
            status = 0
        phase.add("playground", started, status)
        await asyncio.sleep(PLAYGROUND_PAUSE_S)


async def bad_keys(gateway_url: str, address: str, hostile: Hostile, stop: asyncio.Event) -> None:
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30) as client:
        while not stop.is_set():
            made_up = f"aml_{secrets.token_hex(8)}_{secrets.token_urlsafe(33)[:43]}"  # well formed: a lookup each
            headers = forwarded(address) | {"Authorization": f"Bearer {made_up}"}
            try:
                hostile.bad_keys[(await client.get("/v1/models", headers=headers)).status_code] += 1
            except httpx.HTTPError:
                hostile.bad_keys[0] += 1


async def long_generations(org: OrgClient, model_id: str, address: str, hostile: Hostile, stop: asyncio.Event) -> None:
    path = f"/v1/models/{model_id}/playground/chat/completions"
    while not stop.is_set():
        try:
            async with org.stream("POST", path, json=LONG, headers=forwarded(address), timeout=180) as answer:
                if answer.status_code != 200:
                    await answer.aread()
                    hostile.long_failures += 1
                    await asyncio.sleep(0.2)
                    continue
                async for line in answer.aiter_lines():
                    if '"usage"' in line:
                        hostile.long_tokens += int(line.split('"completion_tokens":')[1].split(",")[0].split("}")[0])
            hostile.long_replies += 1
        except httpx.HTTPError:
            hostile.long_failures += 1


async def run(platform: LocalPlatform, seconds: float) -> None:
    operator_key = (platform.data_dir / "operator.key").read_text().strip()
    neighbour = await org_client(platform, operator_key, "neighbour")
    hog = await org_client(platform, operator_key, "hog")
    tenants = [await org_client(platform, operator_key, f"tenant-{index}") for index in range(API_ORGS)]
    began = time.perf_counter()
    neighbour_model, hog_model = await asyncio.gather(train_llm(neighbour, seed=1), train_llm(hog, seed=2))
    print(f"trained two LoRA SmolLM2-135M models in {time.perf_counter() - began:.0f} s", flush=True)
    for org, model_id in ((neighbour, neighbour_model), (hog, hog_model)):  # the shared adapter app, warm
        warm = await org.post(f"/v1/models/{model_id}/playground/chat/completions", json=SHORT, timeout=300)
        warm.raise_for_status()

    phases: list[Calls] = []
    hostile = Hostile()
    stop, attack = asyncio.Event(), asyncio.Event()
    well_behaved = [
        api_client(tenants[index % API_ORGS], ADDRESSES[index % len(ADDRESSES)], phases, stop)
        for index in range(API_CLIENTS)
    ] + [
        playground_client(neighbour, neighbour_model, ADDRESSES[1 + index], phases, stop)
        for index in range(PLAYGROUND_CLIENTS)
    ]
    names = ["quiet", "bad keys", "long generations", "both"]
    attackers: dict[str, list[asyncio.Task[None]]] = {"bad keys": [], "long generations": []}
    clients: list[asyncio.Task[None]] = []
    for name in names:
        if name in ("bad keys", "both"):
            attackers["bad keys"].append(
                asyncio.create_task(bad_keys(platform.gateway_url, ADDRESSES[0], hostile, attack))
            )
        if name == "long generations":
            for task in attackers.pop("bad keys"):
                task.cancel()
            attackers["bad keys"] = []
        if name in ("long generations", "both") and not attackers["long generations"]:
            attackers["long generations"] = [
                asyncio.create_task(long_generations(hog, hog_model, ADDRESSES[4], hostile, attack))
                for _ in range(2)  # the org's bound on the shared playground
            ]
        phases.append(Calls())
        if not clients:
            clients = [asyncio.create_task(client) for client in well_behaved]
        print(f"phase: {name}", flush=True)
        await asyncio.sleep(seconds)
    stop.set()  # the 48 finish the calls they began, under the last phase's load
    await asyncio.gather(*clients, return_exceptions=True)
    attack.set()
    for tasks in attackers.values():
        for task in tasks:
            task.cancel()
    await asyncio.gather(*(task for tasks in attackers.values() for task in tasks), return_exceptions=True)
    for org in (neighbour, hog, *tenants):
        await org.aclose()

    print(f"\n{len(well_behaved)} well-behaved clients, {seconds:g} s per phase, 5 addresses")
    print(f"{'call':<12}{'phase':<18}{'calls':>7}{'p50 ms':>10}{'p99 ms':>10}{'errors':>9}{'p99 ratio':>11}")
    for kind in ("api", "playground"):
        quiet_p99 = phases[0].figures(kind)[1]
        for name, phase in zip(names, phases, strict=True):
            p50, p99, rate, count = phase.figures(kind)
            ratio = p99 / quiet_p99 if quiet_p99 else 0.0
            print(f"{kind:<12}{name:<18}{count:>7}{p50:>10.1f}{p99:>10.1f}{rate:>9.2%}{ratio:>10.2f}x")
        for name, phase in zip(names, phases, strict=True):
            print(f"{'':<12}statuses, {name}: {dict(phase.statuses[kind])}")
    print(f"bad keys: {sum(hostile.bad_keys.values())} calls answered {dict(hostile.bad_keys)}")
    print(
        f"long generations: {hostile.long_replies} finished ({hostile.long_tokens} tokens), "
        f"{hostile.long_failures} refused or failed"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each phase")
    parser.add_argument(
        "--slice-s",
        type=float,
        default=None,
        help="the shared replicas' generation slice (AUTOML_INFERENCE_GENERATION_SLICE_S); 3600: no slices",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-neighbours-") as scratch:
        settings = {
            "AUTOML_GATEWAY_TRUSTED_PROXIES": '["127.0.0.1/32"]',
            "AUTOML_GATEWAY_PLAYGROUND_QUOTA": "100000",
        }
        if args.slice_s is not None:
            settings["AUTOML_INFERENCE_GENERATION_SLICE_S"] = str(args.slice_s)
        with local_platform(Path(scratch), **settings) as platform:
            asyncio.run(run(platform, args.seconds))


if __name__ == "__main__":
    main()
