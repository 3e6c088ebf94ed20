"""Dataset ingestion at scale, in one run on this machine:

1. a 1,000,000-row, 2-column CSV (about 100 MB) uploaded through the gateway into dataset-svc on Postgres:
   seconds until ready (target <= 60 s) against a plain asyncpg COPY of the same file into a bare table
   (the fastest way to put those rows into Postgres at all), and each process's peak memory (target
   <= 500 MB);
2. a preview page at row 900,000 through the gateway (target < 50 ms) against the first page;
3. 1,000 images from a local HTTP server (target < 20 s) against fetching them one by one in this process.

Run: `python -m bench.dataset_ingest [--rows N] [--images N]`.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

import asyncpg
import httpx

from bench.platform_procs import HOST, PeakMemory, clean_env, service_process, wait_while
from tests.support import postgres
from tests.support.image_server import image_server
from tests.support.ports import free_port

INTERNAL_TOKEN = "bench-internal-token-0123456789abcdef"
OPERATOR_KEY = "bench-operator-key-0123456789abcdefgh"
WORDS = [
    "free",
    "prize",
    "call",
    "now",
    "win",
    "cash",
    "claim",
    "urgent",
    "reply",
    "stop",
    "text",
    "meet",
    "later",
    "home",
    "love",
    "ok",
    "thanks",
    "see",
    "you",
    "soon",
]


def build_csv(path: Path, rows: int) -> int:
    generator = random.Random(7)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for _ in range(rows):
            text = " ".join(generator.choices(WORDS, k=20))
            writer.writerow([text, "spam" if generator.random() < 0.13 else "ham"])
    return path.stat().st_size


async def copy_baseline(database_url: str, path: Path) -> float:
    """A bare COPY of the file's rows into a bare two-column table: the floor for any ingestion."""
    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://")
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute("CREATE TABLE copy_baseline (text text, label text)")
        started = time.perf_counter()
        with path.open("rb") as handle:
            await connection.copy_to_table("copy_baseline", source=handle, format="csv", header=True)
        return time.perf_counter() - started
    finally:
        await connection.execute("DROP TABLE IF EXISTS copy_baseline")
        await connection.close()


def upload(client: httpx.Client, path: Path, name: str) -> dict[str, object]:
    with path.open("rb") as handle:
        response = client.post("/v1/datasets", files={"file": (path.name, handle, "text/csv")}, data={"name": name})
    response.raise_for_status()
    body: dict[str, object] = response.json()
    return body


def wait_ready(client: httpx.Client, dataset_id: str) -> dict[str, object]:
    return wait_while(client, f"/v1/datasets/{dataset_id}", "processing")


def page_latency(client: httpx.Client, dataset_id: str, params: dict[str, int], repeat: int = 30) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(f"/v1/datasets/{dataset_id}/rows", params=params)
        samples.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
        assert response.json()["items"], params
    return statistics.median(samples)


def fetch_sequentially(urls: list[str]) -> float:
    started = time.perf_counter()
    with httpx.Client() as client:
        for url in urls:
            client.get(url).raise_for_status()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--images", type=int, default=1000)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-datasets-"))
    csv_path = workdir / "messages.csv"
    size = build_csv(csv_path, args.rows)
    database_url = asyncio.run(postgres.create_database())
    try:
        run(args, workdir, csv_path, size, database_url)
    finally:
        asyncio.run(postgres.drop_database(database_url))


def run(args: argparse.Namespace, workdir: Path, csv_path: Path, size: int, database_url: str) -> None:
    dataset_port, gateway_port = free_port(), free_port()
    common = {
        "AUTOML_DATA_DIR": str(workdir / "data"),
        "AUTOML_INTERNAL_TOKEN": INTERNAL_TOKEN,
        "AUTOML_DATABASE_URL": database_url,
        "AUTOML_LOG_LEVEL": "INFO",
    }
    dataset_env = clean_env(
        **common, AUTOML_DATASET_PORT=str(dataset_port), AUTOML_DATASET_ALLOW_PRIVATE_IMAGE_URLS="true"
    )
    gateway_env = clean_env(
        **common,
        AUTOML_GATEWAY_PORT=str(gateway_port),
        AUTOML_GATEWAY_OPERATOR_KEY=OPERATOR_KEY,
        AUTOML_GATEWAY_DATASET_URL=f"http://{HOST}:{dataset_port}",
    )
    with (
        service_process("dataset_svc", dataset_env, dataset_port, workdir / "dataset.log") as dataset_process,
        service_process("gateway", gateway_env, gateway_port, workdir / "gateway.log") as gateway_process,
    ):
        org = httpx.post(
            f"http://{HOST}:{gateway_port}/v1/orgs",
            json={"name": "bench"},
            headers={"Authorization": f"Bearer {OPERATOR_KEY}"},
        ).json()
        client = httpx.Client(
            base_url=f"http://{HOST}:{gateway_port}",
            headers={"Authorization": f"Bearer {org['admin_key']}"},
            timeout=600,
        )
        services = PeakMemory({"dataset-svc": dataset_process.pid, "gateway": gateway_process.pid})
        uploader = PeakMemory({"uploader": os.getpid()}, with_children=False)
        with services, uploader:
            started = time.perf_counter()
            created = upload(client, csv_path, "messages")
            uploaded = time.perf_counter() - started
            dataset = wait_ready(client, str(created["id"]))
            ingest_s = time.perf_counter() - started
        assert dataset["status"] == "ready", dataset
        assert dataset["row_count"] == args.rows, dataset
        copy_s = asyncio.run(copy_baseline(database_url, csv_path))

        deep_ms = page_latency(client, str(created["id"]), {"start": int(args.rows * 0.9), "limit": 50})
        first_ms = page_latency(client, str(created["id"]), {"limit": 50})

        with image_server() as base:
            urls = [f"{base}/img/{index}.jpg" for index in range(args.images)]
            image_csv = workdir / "images.csv"
            with image_csv.open("w") as handle:
                handle.write("image_url,label\n")
                handle.writelines(f"{url},{'a' if index % 2 else 'b'}\n" for index, url in enumerate(urls))
            started = time.perf_counter()
            image_dataset = wait_ready(client, str(upload(client, image_csv, "images")["id"]))
            images_s = time.perf_counter() - started
            sequential_s = fetch_sequentially(urls)
        assert image_dataset["images"] == {"pending": 0, "ok": args.images, "failed": 0}, image_dataset["images"]

    mb = 1024 * 1024
    peaks = services.peaks | uploader.peaks
    figures = {
        "rows": args.rows,
        "csv_mb": round(size / mb, 1),
        "upload_s": round(uploaded, 2),
        "ready_s": round(ingest_s, 2),
        "copy_baseline_s": round(copy_s, 2),
        "peak_mb": {name: round(peak / mb) for name, peak in peaks.items()},
        "preview_row_900k_ms": round(deep_ms, 2),
        "preview_first_page_ms": round(first_ms, 2),
        "images": args.images,
        "images_ready_s": round(images_s, 2),
        "images_sequential_s": round(sequential_s, 2),
    }
    print(f"dataset_ingest: {args.rows} rows, {size / mb:.0f} MB CSV, through the gateway into Postgres")
    print(
        f"  ready in {ingest_s:.1f} s (upload {uploaded:.1f} s); bare COPY of the same rows {copy_s:.1f} s: "
        f"ratio {ingest_s / copy_s:.1f}x (target ready <= 60 s)"
    )
    print(
        "  peak memory: "
        + ", ".join(f"{name} {peak / mb:.0f} MB" for name, peak in peaks.items())
        + " (target <= 500 MB each)"
    )
    print(
        f"  preview page at row {int(args.rows * 0.9)}: {deep_ms:.1f} ms; first page {first_ms:.1f} ms: "
        f"ratio {deep_ms / first_ms:.2f} (target < 50 ms)"
    )
    print(
        f"  {args.images} images ready in {images_s:.1f} s; fetched one by one {sequential_s:.1f} s: "
        f"ratio {images_s / sequential_s:.2f} (target < 20 s)"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
