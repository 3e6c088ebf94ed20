"""Retraining from a parent model: heads in the new snapshot continue from the parent's weights, new heads
are added, absent heads are kept bit-identical, and the delta is measured against the parent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from safetensors.torch import load_file

from automl_common.storage import FilesystemStore, download_prefix
from tests.support.platform import OrgClient, Platform
from tests.support.training import model_request, review_rows, text_snapshot, wait_model

pytestmark = pytest.mark.slow


async def heads_of(platform: Platform, org: OrgClient, model_id: str, work: Path) -> tuple[dict[str, Any], list[str]]:
    import json

    store = FilesystemStore(platform.apps["trainer"].state.settings.resolved_store_root)
    await download_prefix(store, f"orgs/{org.org_id}/models/{model_id}/artifacts/", work)
    names = [head["name"] for head in json.loads((work / "model.json").read_text())["spec"]["heads"]]
    return load_file(str(work / "heads.safetensors")), names


async def test_retraining_keeps_absent_heads_and_reports_the_delta_to_the_parent(
    org: OrgClient, trainer_platform: Platform, tiny_base: dict[str, Any], tmp_path: Path
) -> None:
    first = await text_snapshot(org, review_rows(200, seed=8), [{"column": "sentiment"}, {"column": "topic"}])
    parent_request = model_request(tiny_base["id"], first["id"], "last_layer", max_epochs=15)
    parent = await wait_model(org, (await org.post("/v1/models", json=parent_request)).json()["id"])
    assert parent["status"] == "succeeded", parent["error"]

    # New data for the sentiment head, a new multi-label head; no topic labels at all.
    heads: list[dict[str, Any]] = [{"column": "sentiment"}, {"column": "tags", "multilabel": True}]
    second = await text_snapshot(org, review_rows(200, seed=9), heads)
    child_request = model_request(tiny_base["id"], second["id"], "last_layer", max_epochs=15)
    child_request["parent_model_id"] = parent["id"]
    child = await wait_model(org, (await org.post("/v1/models", json=child_request)).json()["id"])
    assert child["status"] == "succeeded", child["error"]

    parent_heads, parent_names = await heads_of(trainer_platform, org, parent["id"], tmp_path / "parent")
    child_heads, child_names = await heads_of(trainer_platform, org, child["id"], tmp_path / "child")
    assert child_names == ["sentiment", "tags", "topic"]
    kept_parent, kept_child = parent_names.index("topic"), child_names.index("topic")
    for part in ("weight", "bias"):
        assert child_heads[f"heads.{kept_child}.{part}"].equal(parent_heads[f"heads.{kept_parent}.{part}"])
    assert not child_heads["heads.0.weight"].equal(parent_heads["heads.0.weight"])  # retrained

    metrics = (await org.get(f"/v1/models/{child['id']}/metrics")).json()
    assert metrics["kept_heads"] == ["topic"]
    assert parent["id"] in metrics["baseline"]["name"]
    assert set(metrics["delta"]["heads"]) == {"sentiment", "tags"}
    sentiment = metrics["heads"]["sentiment"]["macro"]["f1"]
    parent_on_same_rows = metrics["baseline"]["heads"]["sentiment"]["macro"]["f1"]
    assert metrics["delta"]["heads"]["sentiment"]["macro"]["f1"] == pytest.approx(sentiment - parent_on_same_rows)
    card = (await org.get(f"/v1/models/{child['id']}/card")).text
    assert "parent model" in card
