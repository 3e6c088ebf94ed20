"""Gateway overhead: latency (p50/p99) and throughput of the same request sent straight to a service and
through the gateway (key check, rate limit, proxy), in one run on this machine.

Targets: the gateway adds at most 2 ms at p50 and keeps at least half of the direct throughput.
Run: `make bench` or `python -m bench.gateway_overhead [--requests N] [--seconds S] [--concurrency C]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
from pathlib import Path

import httpx

from bench.loadgen import build_request, measure_latency, measure_throughput
from bench.platform_procs import HOST, service_process
from tests.support.ports import free_port

INTERNAL_TOKEN = "bench-internal-token-0123456789abcdef"
OPERATOR_KEY = "bench-operator-key-0123456789abcdefgh"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=3000, help="sequential requests for latency")
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each throughput run")
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-gateway-"))
    echo_port, gateway_port = free_port(), free_port()
    base = {k: v for k, v in os.environ.items() if not k.startswith("AUTOML_")} | {
        "AUTOML_DATA_DIR": str(workdir),
        "AUTOML_INTERNAL_TOKEN": INTERNAL_TOKEN,
        "AUTOML_LOG_LEVEL": "INFO",  # access logs on, as in production
    }
    echo_env = base | {"AUTOML_PORT": str(echo_port)}
    gateway_env = base | {
        "AUTOML_GATEWAY_PORT": str(gateway_port),
        "AUTOML_GATEWAY_OPERATOR_KEY": OPERATOR_KEY,
        "AUTOML_GATEWAY_EXTRA_ROUTES": json.dumps({"/v1/echo": f"http://{HOST}:{echo_port}"}),
        # The limiter still runs on every request; the limit is only set high enough not to refuse any.
        "AUTOML_GATEWAY_RATE_LIMIT_PER_S": "1000000",
        "AUTOML_GATEWAY_RATE_LIMIT_BURST": "1000000",
        "AUTOML_GATEWAY_ORG_RATE_LIMIT_PER_S": "1000000",  # the org's bucket too: it refused the run with a 429
        "AUTOML_GATEWAY_ORG_RATE_LIMIT_BURST": "1000000",
    }
    with (
        service_process("bench.echo_server", echo_env, echo_port, workdir / "echo.log"),
        service_process("gateway", gateway_env, gateway_port, workdir / "gateway.log"),
    ):
        org = httpx.post(
            f"http://{HOST}:{gateway_port}/v1/orgs",
            json={"name": "bench"},
            headers={"Authorization": f"Bearer {OPERATOR_KEY}"},
        ).json()
        direct = build_request(HOST, echo_port, "/v1/echo", {"X-Internal-Token": INTERNAL_TOKEN, "X-Org-Id": org["id"]})
        through = build_request(HOST, gateway_port, "/v1/echo", {"Authorization": f"Bearer {org['admin_key']}"})
        results = asyncio.run(run(args, echo_port, gateway_port, direct, through))
    report(args, results)


async def run(
    args: argparse.Namespace, echo_port: int, gateway_port: int, direct: bytes, through: bytes
) -> dict[str, object]:
    # Interleaved, two rounds each, best kept: a noisy neighbour then hurts neither path more than the other.
    results: dict[str, list[object]] = {
        "direct_latency": [],
        "gateway_latency": [],
        "direct_rps": [],
        "gateway_rps": [],
    }
    for _ in range(2):
        results["direct_latency"].append(
            await measure_latency(HOST, echo_port, direct, count=args.requests, warmup=300)
        )
        results["gateway_latency"].append(
            await measure_latency(HOST, gateway_port, through, count=args.requests, warmup=300)
        )
        results["direct_rps"].append(
            await measure_throughput(HOST, echo_port, direct, concurrency=args.concurrency, seconds=args.seconds)
        )
        results["gateway_rps"].append(
            await measure_throughput(HOST, gateway_port, through, concurrency=args.concurrency, seconds=args.seconds)
        )
    return {
        "direct_latency": min(results["direct_latency"], key=lambda r: r.p50_ms),  # type: ignore[attr-defined]
        "gateway_latency": min(results["gateway_latency"], key=lambda r: r.p50_ms),  # type: ignore[attr-defined]
        "direct_rps": max(results["direct_rps"], key=lambda r: r.requests_per_s),  # type: ignore[attr-defined]
        "gateway_rps": max(results["gateway_rps"], key=lambda r: r.requests_per_s),  # type: ignore[attr-defined]
    }


def report(args: argparse.Namespace, results: dict[str, object]) -> None:
    direct_latency, gateway_latency = results["direct_latency"], results["gateway_latency"]
    direct_rps, gateway_rps = results["direct_rps"], results["gateway_rps"]
    added = gateway_latency.p50_ms - direct_latency.p50_ms  # type: ignore[attr-defined]
    ratio = gateway_rps.requests_per_s / direct_rps.requests_per_s  # type: ignore[attr-defined]
    print(
        f"gateway_overhead: GET /v1/echo, {args.requests} sequential requests; "
        f"throughput at concurrency {args.concurrency} for {args.seconds:.0f} s"
    )
    for name, latency, rps in (("direct ", direct_latency, direct_rps), ("gateway", gateway_latency, gateway_rps)):
        print(
            f"  {name}  p50 {latency.p50_ms:6.2f} ms   p99 {latency.p99_ms:6.2f} ms   "  # type: ignore[attr-defined]
            f"throughput {rps.requests_per_s:7.0f} req/s ({rps.errors} errors)"  # type: ignore[attr-defined]
        )
    print(f"  gateway adds {added:+.2f} ms at p50 (target <= 2 ms): {'PASS' if added <= 2 else 'MISS'}")
    print(f"  throughput ratio gateway/direct {ratio:.2f} (target >= 0.50): {'PASS' if ratio >= 0.5 else 'MISS'}")


if __name__ == "__main__":
    main()
