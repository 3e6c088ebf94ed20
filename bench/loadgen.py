"""A minimal HTTP/1.1 keep-alive load generator on raw asyncio streams.

The benchmark compares two paths through the same client, so the client must cost as little as possible:
a general HTTP client (httpx) would spend more CPU per request than the servers under test on this 2-core
machine and blur the comparison.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class LatencyResult:
    p50_ms: float
    p99_ms: float
    mean_ms: float
    count: int


@dataclass(frozen=True)
class ThroughputResult:
    requests_per_s: float
    count: int
    errors: int


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def send(self, raw: bytes) -> int:
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        lowered = head.lower()
        start = lowered.find(b"content-length:")
        if start < 0:
            raise RuntimeError("the load generator reads only responses with a Content-Length")
        end = lowered.find(b"\r\n", start)
        await self.reader.readexactly(int(lowered[start + 15 : end]))
        return status

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


def build_request(
    host: str, port: int, path: str, headers: dict[str, str], *, method: str = "GET", json_body: object = None
) -> bytes:
    body = b"" if json_body is None else json.dumps(json_body).encode()
    if json_body is not None:
        headers = headers | {"Content-Type": "application/json", "Content-Length": str(len(body))}
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def measure_latency(host: str, port: int, raw: bytes, *, count: int, warmup: int) -> LatencyResult:
    connection = await Connection.open(host, port)
    try:
        for _ in range(warmup):
            await connection.send(raw)
        samples = []
        for _ in range(count):
            started = time.perf_counter()
            status = await connection.send(raw)
            samples.append((time.perf_counter() - started) * 1000)
            if status != 200:
                raise RuntimeError(f"status {status}")
    finally:
        await connection.close()
    return _latency(samples)


async def measure_interleaved(
    host: str, requests: dict[str, tuple[int, bytes]], *, count: int, warmup: int
) -> dict[str, LatencyResult]:
    """Sequential requests to several paths (name: port, raw request), one keep-alive connection each, taken
    in turn (one request to each, again and again), so that what drifts during the run (caches warming, the
    machine's other load) weighs on every path alike; the latency of each."""
    connections = {name: await Connection.open(host, port) for name, (port, _) in requests.items()}
    samples: dict[str, list[float]] = {name: [] for name in requests}
    try:
        for round_ in range(warmup + count):
            for name, (_, raw) in requests.items():
                started = time.perf_counter()
                status = await connections[name].send(raw)
                if status != 200:
                    raise RuntimeError(f"{name}: status {status}")
                if round_ >= warmup:
                    samples[name].append((time.perf_counter() - started) * 1000)
    finally:
        for connection in connections.values():
            await connection.close()
    return {name: _latency(found) for name, found in samples.items()}


def _latency(samples: list[float]) -> LatencyResult:
    samples = sorted(samples)
    return LatencyResult(
        p50_ms=samples[len(samples) // 2],
        p99_ms=samples[int(len(samples) * 0.99)],
        mean_ms=statistics.fmean(samples),
        count=len(samples),
    )


async def measure_throughput(host: str, port: int, raw: bytes, *, concurrency: int, seconds: float) -> ThroughputResult:
    connections = [await Connection.open(host, port) for _ in range(concurrency)]
    done = 0
    errors = 0
    deadline = time.perf_counter() + seconds

    async def worker(connection: Connection) -> None:
        nonlocal done, errors
        while time.perf_counter() < deadline:
            if await connection.send(raw) == 200:
                done += 1
            else:
                errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(connection) for connection in connections))
    elapsed = time.perf_counter() - started
    for connection in connections:
        await connection.close()
    return ThroughputResult(requests_per_s=done / elapsed, count=done, errors=errors)
