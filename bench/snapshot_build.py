"""Snapshot build at scale: a snapshot of the 1,000,000-row dataset of bench/dataset_ingest, in one run.

Figures: seconds from POST /v1/snapshots to ready (target <= 30 s) against reading the same dataset's
export stream alone (the data the build must move, without validating or writing anything), and each
process's peak memory (target <= 500 MB).

Run: `python -m bench.snapshot_build [--rows N]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

import httpx

from bench.dataset_ingest import INTERNAL_TOKEN, OPERATOR_KEY, build_csv, upload, wait_ready
from bench.platform_procs import HOST, PeakMemory, clean_env, service_process, wait_while
from tests.support import postgres
from tests.support.ports import free_port


def wait_snapshot(client: httpx.Client, snapshot_id: str) -> dict[str, object]:
    return wait_while(client, f"/v1/snapshots/{snapshot_id}", "creating")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-snapshots-"))
    csv_path = workdir / "messages.csv"
    build_csv(csv_path, args.rows)
    database_url = asyncio.run(postgres.create_database())
    try:
        run(args, workdir, csv_path, database_url)
    finally:
        asyncio.run(postgres.drop_database(database_url))


def run(args: argparse.Namespace, workdir: Path, csv_path: Path, database_url: str) -> None:
    dataset_port, snapshot_port, gateway_port = free_port(), free_port(), free_port()
    common = {
        "AUTOML_DATA_DIR": str(workdir / "data"),
        "AUTOML_INTERNAL_TOKEN": INTERNAL_TOKEN,
        "AUTOML_DATABASE_URL": database_url,
    }
    dataset_env = clean_env(**common, AUTOML_DATASET_PORT=str(dataset_port))
    snapshot_env = clean_env(
        **common, AUTOML_SNAPSHOT_PORT=str(snapshot_port), AUTOML_SNAPSHOT_DATASET_URL=f"http://{HOST}:{dataset_port}"
    )
    gateway_env = clean_env(
        **common,
        AUTOML_GATEWAY_PORT=str(gateway_port),
        AUTOML_GATEWAY_OPERATOR_KEY=OPERATOR_KEY,
        AUTOML_GATEWAY_DATASET_URL=f"http://{HOST}:{dataset_port}",
        AUTOML_GATEWAY_SNAPSHOT_URL=f"http://{HOST}:{snapshot_port}",
    )
    with (
        service_process("dataset_svc", dataset_env, dataset_port, workdir / "dataset.log") as dataset_process,
        service_process("snapshot_svc", snapshot_env, snapshot_port, workdir / "snapshot.log") as snapshot_process,
        service_process("gateway", gateway_env, gateway_port, workdir / "gateway.log"),
    ):
        operator = {"Authorization": f"Bearer {OPERATOR_KEY}"}
        org = httpx.post(f"http://{HOST}:{gateway_port}/v1/orgs", json={"name": "bench"}, headers=operator).json()
        admin = {"Authorization": f"Bearer {org['admin_key']}"}
        client = httpx.Client(base_url=f"http://{HOST}:{gateway_port}", headers=admin, timeout=600)
        dataset = wait_ready(client, str(upload(client, csv_path, "messages")["id"]))
        mapping = {"columns": {"text": "text", "label": "label"}}
        client.put(f"/v1/datasets/{dataset['id']}/columns", json=mapping).raise_for_status()

        started = time.perf_counter()
        with client.stream("GET", f"/v1/datasets/{dataset['id']}/export") as response:
            exported = sum(len(chunk) for chunk in response.iter_raw())
        export_s = time.perf_counter() - started

        with PeakMemory({"snapshot-svc": snapshot_process.pid, "dataset-svc": dataset_process.pid}) as memory:
            started = time.perf_counter()
            created = client.post(
                "/v1/snapshots",
                json={
                    "dataset_id": dataset["id"],
                    "name": "bench",
                    "type": "text_classification",
                    "input_column": "text",
                    "heads": [{"column": "label"}],
                },
            )
            created.raise_for_status()
            snapshot = wait_snapshot(client, created.json()["id"])
            build_s = time.perf_counter() - started
    assert snapshot["status"] == "ready", snapshot
    assert snapshot["row_count"] == args.rows, snapshot
    mb = 1024 * 1024
    print(f"snapshot_build: {args.rows} rows, text classification, one head")
    print(
        f"  ready in {build_s:.1f} s; reading the export alone ({exported / mb:.0f} MB) {export_s:.1f} s: "
        f"ratio {build_s / export_s:.2f} (target ready <= 30 s)"
    )
    peaks = ", ".join(f"{name} {peak / mb:.0f} MB" for name, peak in memory.peaks.items())
    print(f"  peak memory: {peaks} (target <= 500 MB)")
    print(
        json.dumps(
            {
                "rows": args.rows,
                "ready_s": round(build_s, 2),
                "export_only_s": round(export_s, 2),
                "peak_mb": {name: round(peak / mb) for name, peak in memory.peaks.items()},
                "heads": snapshot["heads"],
            }
        )
    )


if __name__ == "__main__":
    main()
