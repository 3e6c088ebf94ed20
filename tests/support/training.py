"""Training through the public API in tests: labelled text rows, snapshots of them, a tiny base model
registered for an org, and waiting on models and their events."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import random
import time
from pathlib import Path
from typing import Any

from automl_common.storage import create_store, upload_directory
from tests.support.platform import OrgClient, Platform
from tests.support.tiny_models import FILLER, NEGATIVE, POSITIVE, TOPICS

TERMINAL = ("succeeded", "failed", "cancelled")


def review_rows(count: int, seed: int = 0, *, topic_labelled: float = 1.0) -> list[dict[str, str]]:
    """Texts whose sentiment and topics are in their words: learnable by a tiny model in a few epochs.
    ``topic_labelled`` < 1 leaves that share of rows without a topic label (a partially labelled head)."""
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        sentiment = rng.choice(["positive", "negative"])
        topics = rng.sample(sorted(TOPICS), rng.choice([1, 1, 2]))
        words = [rng.choice(POSITIVE if sentiment == "positive" else NEGATIVE) for _ in range(2)]
        for topic in topics:
            words += [rng.choice(TOPICS[topic]) for _ in range(2)]
        words += rng.sample(FILLER, 4)
        rng.shuffle(words)
        rows.append(
            {
                "text": " ".join(words),
                "sentiment": sentiment,
                "topic": topics[0] if rng.random() < topic_labelled else "",
                "tags": json.dumps(sorted(topics)),
            }
        )
    return rows


def to_csv(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


async def text_snapshot(org: OrgClient, rows: list[dict[str, str]], heads: list[dict[str, Any]]) -> dict[str, Any]:
    """Upload ``rows``, map text + label columns, snapshot with ``heads``; the ready snapshot."""
    created = await org.upload("reviews.csv", to_csv(rows))
    assert created.status_code == 201, created.text
    dataset = await org.wait_dataset(created.json()["id"])
    assert dataset["status"] == "ready", dataset
    mapping = {column: "ignore" for column in rows[0]} | {"text": "text"}
    mapping |= {head["column"]: "label" for head in heads}
    response = await org.put(f"/v1/datasets/{dataset['id']}/columns", json={"columns": mapping})
    assert response.status_code == 200, response.text
    response = await org.post(
        "/v1/snapshots",
        json={
            "dataset_id": dataset["id"],
            "name": "reviews",
            "type": "text_classification",
            "input_column": "text",
            "heads": heads,
        },
    )
    assert response.status_code == 201, response.text
    snapshot = await org.wait_snapshot(response.json()["id"])
    assert snapshot["status"] == "ready", snapshot
    return snapshot


async def register_tiny(
    org: OrgClient, platform: Platform, model_dir: Path, name: str = "tiny-bert", **extra: Any
) -> dict[str, Any]:
    """Put the tiny model's files in the org's part of the shared store and register them as a base model."""
    store = await create_store(platform.apps["trainer"].state.settings)
    prefix = f"orgs/{org.org_id}/uploads/{name}/"
    try:
        await upload_directory(store, model_dir, prefix)
    finally:
        await store.close()
    response = await org.post("/v1/base-models", json={"name": name, "store_path": prefix, **extra})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def wait_model(
    org: OrgClient, model_id: str, timeout_s: float = 240, until: tuple[str, ...] = TERMINAL
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        response = await org.get(f"/v1/models/{model_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["status"] in until:
            return body
        if time.monotonic() > deadline:
            raise TimeoutError(f"model {model_id} still {body['status']}: {body['progress']}")
        await asyncio.sleep(0.1)


async def events(org: OrgClient, model_id: str) -> list[dict[str, Any]]:
    response = await org.get(f"/v1/models/{model_id}/events", params={"limit": 5000})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def wait_event(org: OrgClient, model_id: str, kind: str, timeout_s: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = [event for event in await events(org, model_id) if event["kind"] == kind]
        if found:
            return found[0]
        await asyncio.sleep(0.1)
    raise TimeoutError(f"no {kind} event for {model_id}")


def model_request(base_model: str, snapshot_id: str, method: str = "last_layer", **options: Any) -> dict[str, Any]:
    return {
        "name": f"{method} model",
        "base_model": base_model,
        "method": method,
        "train_snapshot_id": snapshot_id,
        "test_split_pct": 25,
        "options": options,
    }
