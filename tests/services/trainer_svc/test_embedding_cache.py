"""Last-layer retraining through the platform reads the org's embedding cache: the same rows again embed
nothing, a snapshot with one row edited embeds that row alone, and another org training on the very same rows
embeds them all (an org's cached embeddings are its own). A retraining from the previous model continues from
its heads, in the method's continued epochs unless the options say otherwise."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from automl_proto.models import CONTINUED_MAX_EPOCHS
from tests.support.platform import OrgClient, Platform
from tests.support.training import events, model_request, register_tiny, review_rows, text_snapshot, wait_model

pytestmark = pytest.mark.slow
HEADS = [{"column": "sentiment"}]


async def embedded(org: OrgClient, base: dict[str, Any], snapshot: dict[str, Any]) -> tuple[int, int]:
    """Train a last-layer model; the rows its worker embedded, of its training and validation rows."""
    request = model_request(base["id"], snapshot["id"], "last_layer", max_epochs=2)
    model = await wait_model(org, (await org.post("/v1/models", json=request)).json()["id"])
    assert model["status"] == "succeeded", model["error"]
    logged = [event["message"] for event in await events(org, model["id"]) if event["kind"] == "log"]
    counts = [re.match(r"embedded (\d+) of (\d+) training and validation rows", line) for line in logged]
    found = [match for match in counts if match is not None]
    assert len(found) == 1, logged
    return int(found[0][1]), int(found[0][2])


async def test_retraining_embeds_only_changed_rows_and_orgs_do_not_share(
    org: OrgClient, trainer_platform: Platform, tiny_base: dict[str, Any], tiny_bert: Path
) -> None:
    rows = review_rows(120, seed=21)
    first = await text_snapshot(org, rows, HEADS)
    done, total = await embedded(org, tiny_base, first)
    assert done == total > 0

    assert await embedded(org, tiny_base, first) == (0, total)

    edited = [dict(row) for row in rows]
    edited[7]["text"] = "an edited review " + edited[7]["text"]
    second = await text_snapshot(org, edited, HEADS)
    done_edited, total_edited = await embedded(org, tiny_base, second)
    # The edited row is embedded if the split put it in training or validation; no other row is.
    assert done_edited <= 1 and total_edited >= total - 1

    async with trainer_platform.org("cache-neighbours") as other:
        other_base = await register_tiny(other, trainer_platform, tiny_bert)
        same_rows = await text_snapshot(other, rows, HEADS)
        assert await embedded(other, other_base, same_rows) == (total, total)


async def test_a_retraining_from_the_previous_model_continues_from_its_heads(
    org: OrgClient, trainer_platform: Platform, tiny_base: dict[str, Any]
) -> None:
    rows = review_rows(120, seed=22)
    first = await text_snapshot(org, rows, HEADS)
    request = model_request(tiny_base["id"], first["id"], "last_layer", max_epochs=30)
    parent = await wait_model(org, (await org.post("/v1/models", json=request)).json()["id"])
    assert parent["status"] == "succeeded", parent["error"]
    edited = [dict(row) for row in rows]
    edited[3]["text"] = "an edited review " + edited[3]["text"]
    second = await text_snapshot(org, edited, HEADS)

    async def retrained(**options: Any) -> tuple[int, list[str]]:
        request = model_request(tiny_base["id"], second["id"], "last_layer", **options) | {
            "parent_model_id": parent["id"]
        }
        child = await wait_model(org, (await org.post("/v1/models", json=request)).json()["id"])
        assert child["status"] == "succeeded", child["error"]
        epochs = (await org.get(f"/v1/models/{child['id']}/metrics")).json()["epochs"]
        return len(epochs), [event["message"] for event in await events(org, child["id"]) if event["kind"] == "log"]

    epochs, logged = await retrained()
    assert epochs == CONTINUED_MAX_EPOCHS["last_layer"] < 100  # not the method's default of a run from scratch
    assert any(line.startswith("continuing from the parent's heads") for line in logged), logged
    assert any(re.match(r"embedded [01] of \d+ training and validation rows", line) for line in logged), logged
    epochs, logged = await retrained(max_epochs=3)  # the options' own count wins
    assert epochs == 3
    assert not any(line.startswith("continuing from the parent's heads") for line in logged), logged
