"""Batch prediction through the gateway: over a snapshot with a deployment (JSON lines) and over a dataset's
text column straight from a model (CSV), progress, results in the object store, clear errors, isolation."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import update

from inference_svc.tables import BatchPredictionRow
from tests.services.inference_svc.conftest import deploy
from tests.support.api import bearer
from tests.support.platform import OrgClient, Platform
from tests.support.training import review_rows, to_csv

MAX_CHARS = 300


@pytest.fixture(scope="module")
def inference_overrides() -> dict[str, Any]:
    return {"max_text_chars": MAX_CHARS, "batch_max_rows": 200, "batch_chunk_rows": 16}


@pytest.fixture(scope="module")
async def deployment(org: OrgClient, trained_model: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
    deployed = await deploy(org, trained_model["id"], min_replicas=1, max_replicas=1)
    yield deployed
    await org.delete(f"/v1/deployments/{deployed['id']}")


async def wait_batch(org: OrgClient, batch_id: str, timeout_s: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        body: dict[str, Any] = (await org.get(f"/v1/batch-predictions/{batch_id}")).json()
        if body["status"] in ("succeeded", "failed") or time.monotonic() > deadline:
            return body
        await asyncio.sleep(0.1)


async def results_of(org: OrgClient, batch: dict[str, Any]) -> bytes:
    assert batch["result_url"] == f"/v1/batch-predictions/{batch['id']}/results"  # a filesystem store here
    response = await org.get(batch["result_url"])
    assert response.status_code == 200, response.text
    return response.content


async def upload_texts(org: OrgClient, rows: list[dict[str, str]], text_columns: list[str]) -> dict[str, Any]:
    created = await org.upload("texts.csv", to_csv(rows))
    assert created.status_code == 201, created.text
    dataset = await org.wait_dataset(created.json()["id"])
    mapping = {column: "ignore" for column in rows[0]} | {column: "text" for column in text_columns}
    response = await org.put(f"/v1/datasets/{dataset['id']}/columns", json={"columns": mapping})
    assert response.status_code == 200, response.text
    return dataset


async def test_batch_over_a_snapshot_with_a_deployment_matches_predict(
    org: OrgClient, trained_model: dict[str, Any], deployment: dict[str, Any]
) -> None:
    snapshot_id = trained_model["train_snapshot_id"]
    created = await org.post(
        "/v1/batch-predictions", json={"deployment_id": deployment["id"], "snapshot_id": snapshot_id}
    )
    assert created.status_code == 202, created.text
    assert created.json()["status"] == "queued"
    assert created.json()["progress"] == {"rows_done": 0, "rows_total": 160}
    batch = await wait_batch(org, created.json()["id"])
    assert batch["status"] == "succeeded", batch
    assert batch["progress"] == {"rows_done": 160, "rows_total": 160}
    assert batch["model_id"] == trained_model["id"]
    assert batch["format"] == "jsonl"
    lines = [json.loads(line) for line in (await results_of(org, batch)).splitlines()]
    assert [line["index"] for line in lines] == list(range(160))  # every row, in order, joinable by index
    texts = [row["text"] for row in review_rows(160, seed=3)]  # the rows the snapshot was made from
    for start in (0, 64, 128):
        direct = await org.post(
            f"/v1/deployments/{deployment['id']}/predict", json={"inputs": texts[start : start + 32]}
        )
        for line, output in zip(lines[start : start + 32], direct.json()["outputs"], strict=True):
            for head, answer in output["heads"].items():
                assert line["heads"][head]["predicted"] == answer["predicted"]
                assert line["heads"][head]["scores"] == pytest.approx(answer["scores"], abs=1e-4)
    listed = await org.get("/v1/batch-predictions")
    assert batch["id"] in [item["id"] for item in listed.json()["items"]]


async def test_batch_over_a_dataset_column_from_a_model_as_csv(org: OrgClient, trained_model: dict[str, Any]) -> None:
    rows = [{"body": row["text"], "note": "n/a", "sentiment": row["sentiment"]} for row in review_rows(40, seed=9)]
    rows[5]["body"] = ""
    rows[7]["body"] = "long " * MAX_CHARS
    dataset = await upload_texts(org, rows, ["body", "note"])

    ambiguous = await org.post(
        "/v1/batch-predictions", json={"model_id": trained_model["id"], "dataset_id": dataset["id"]}
    )
    assert ambiguous.status_code == 422
    assert ambiguous.json()["detail"] == "input_column: the dataset has 2 text columns ('body', 'note'); name one"

    created = await org.post(
        "/v1/batch-predictions",
        json={"model_id": trained_model["id"], "dataset_id": dataset["id"], "input_column": "body", "format": "csv"},
    )
    assert created.status_code == 202, created.text
    batch = await wait_batch(org, created.json()["id"])
    assert batch["status"] == "succeeded", batch
    assert batch["progress"] == {"rows_done": 40, "rows_total": 40}
    assert batch["deployment_id"] is None
    table = list(csv.DictReader(io.StringIO((await results_of(org, batch)).decode())))
    assert len(table) == 40
    assert [int(row["index"]) for row in table] == list(range(40))
    assert table[5]["error"] == "empty input"
    assert table[7]["error"] == f"{len('long ' * MAX_CHARS)} characters; at most {MAX_CHARS}"
    assert table[5]["sentiment"] == table[5]["sentiment:positive"] == ""
    playground = await org.post(f"/v1/models/{trained_model['id']}/playground", json={"input": rows[0]["body"]})
    expected = playground.json()["heads"]
    first = table[0]
    assert first["error"] == ""
    assert first["sentiment"] == "|".join(expected["sentiment"]["predicted"])
    assert first["tags"] == "|".join(expected["tags"]["predicted"])
    for name, score in expected["sentiment"]["scores"].items():
        assert float(first[f"sentiment:{name}"]) == pytest.approx(score, abs=1e-4)
    right = sum(row["sentiment"] == source["sentiment"] for row, source in zip(table, rows, strict=True))
    assert right >= 30  # the model learned something; the rows are in the file in the dataset's order


async def test_batch_errors_and_isolation(
    org: OrgClient, inference_platform: Platform, trained_model: dict[str, Any], deployment: dict[str, Any]
) -> None:
    snapshot_id = trained_model["train_snapshot_id"]
    both = await org.post(
        "/v1/batch-predictions",
        json={"model_id": trained_model["id"], "deployment_id": deployment["id"], "snapshot_id": snapshot_id},
    )
    assert both.status_code == 422
    assert "exactly one of model_id and deployment_id" in both.text
    column = await org.post(
        "/v1/batch-predictions",
        json={"model_id": trained_model["id"], "snapshot_id": snapshot_id, "input_column": "text"},
    )
    assert column.status_code == 422
    assert column.json()["detail"].startswith("input_column: only for a dataset")
    missing = await org.post(
        "/v1/batch-predictions",
        json={"model_id": trained_model["id"], "snapshot_id": "snap_00000000000000000000000000"},
    )
    assert missing.status_code == 404
    assert missing.json()["detail"] == "snapshot_id: snapshot 'snap_00000000000000000000000000' not found"
    too_many = [{"body": f"text number {i}"} for i in range(201)]
    big = await upload_texts(org, too_many, ["body"])
    refused = await org.post("/v1/batch-predictions", json={"model_id": trained_model["id"], "dataset_id": big["id"]})
    assert refused.status_code == 422
    assert refused.json()["detail"] == "201 rows; a batch prediction reads at most 200"

    made = await org.post("/v1/batch-predictions", json={"model_id": trained_model["id"], "snapshot_id": snapshot_id})
    assert made.status_code == 202, made.text
    async with inference_platform.org("strangers") as other:
        assert (await other.get(f"/v1/batch-predictions/{made.json()['id']}")).status_code == 404
        assert (await other.get(f"/v1/batch-predictions/{made.json()['id']}/results")).status_code == 404
        assert (await other.get("/v1/batch-predictions")).json()["items"] == []
        theirs = await other.post(
            "/v1/batch-predictions", json={"model_id": trained_model["id"], "snapshot_id": snapshot_id}
        )
        assert theirs.status_code == 404
        theirs = await other.post(
            "/v1/batch-predictions", json={"deployment_id": deployment["id"], "snapshot_id": snapshot_id}
        )
        assert theirs.status_code == 404
    key = await org.post("/v1/keys", json={"name": "dep", "scope": "deployment", "deployment_id": deployment["id"]})
    assert key.status_code == 201, key.text
    scoped = await org.get("/v1/batch-predictions", headers=bearer(key.json()["key"]))
    assert scoped.status_code == 403
    assert (await wait_batch(org, made.json()["id"]))["status"] == "succeeded"


async def test_a_batch_left_running_by_a_stop_starts_over_at_start_up(
    org: OrgClient, inference_platform: Platform, trained_model: dict[str, Any]
) -> None:
    made = await org.post(
        "/v1/batch-predictions",
        json={"model_id": trained_model["id"], "snapshot_id": trained_model["train_snapshot_id"]},
    )
    first = await wait_batch(org, made.json()["id"])
    assert first["status"] == "succeeded", first
    before = await results_of(org, first)

    # What a stopped service leaves behind: the row still running, part done, no result. Start-up resumes it.
    app = inference_platform.apps["inference"]
    loop = app.state.manager._ticker.get_loop()  # the service's own event loop

    async def left_running_then_start_up() -> None:
        async with app.state.database.session() as session:
            await session.execute(
                update(BatchPredictionRow)
                .where(BatchPredictionRow.id == first["id"])
                .values(status="running", rows_done=37, result_key=None, finished_at=None)
            )
        await app.state.batch_runner.resume()

    await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(left_running_then_start_up(), loop))
    again = await wait_batch(org, first["id"])
    assert again["status"] == "succeeded", again
    assert again["progress"] == {"rows_done": 160, "rows_total": 160}
    assert again["finished_at"] > first["finished_at"]
    # The same answers, row by row; a row's scores may differ in their last digits, as its batch-mates in the
    # encoder's padded batches may not be the same the second time (seen: a score one unit off in its 6th decimal).
    assert_same_lines(await results_of(org, again), before)


def assert_same_lines(got: bytes, want: bytes) -> None:
    got_rows, want_rows = ([json.loads(line) for line in blob.decode().splitlines()] for blob in (got, want))
    assert len(got_rows) == len(want_rows)
    for mine, theirs in zip(got_rows, want_rows, strict=True):
        assert _close(mine, theirs), (mine, theirs)


def _close(got: Any, want: Any) -> bool:
    if isinstance(got, dict) and isinstance(want, dict):
        return got.keys() == want.keys() and all(_close(got[key], want[key]) for key in got)
    if isinstance(got, list) and isinstance(want, list):
        return len(got) == len(want) and all(_close(a, b) for a, b in zip(got, want, strict=True))
    if isinstance(got, float) and isinstance(want, float):
        return abs(got - want) <= 1e-5  # scores are rounded to 6 decimals: one unit of the last may differ
    return bool(got == want)
