"""POST /v1/models checks everything up front with clear errors; base models; org isolation; delete."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from automl_proto.models import METHOD_DEFAULTS, TrainingOptions
from tests.support.platform import OrgClient, Platform
from tests.support.training import model_request, register_tiny, review_rows, text_snapshot, wait_model


async def test_the_built_in_base_models_are_listed_with_their_methods(org: OrgClient) -> None:
    listed = (await org.get("/v1/base-models")).json()["items"]
    by_id = {item["id"]: item for item in listed}
    assert {"minilm-l6", "mpnet-base"} <= set(by_id)
    minilm = by_id["minilm-l6"]
    assert minilm["builtin"] is True
    assert minilm["methods"] == ["last_layer", "lora", "full"]
    assert minilm["model_type"] == "text_classification"
    assert minilm["status"] in ("available", "ready")  # installed by make; imported on first use


async def test_registered_base_models_belong_to_their_org(
    org: OrgClient, trainer_platform: Platform, tiny_bert: Path
) -> None:
    mine = await register_tiny(org, trainer_platform, tiny_bert)
    assert mine["builtin"] is False
    assert mine["status"] == "importing"
    async with trainer_platform.org("others") as other:
        assert mine["id"] not in {item["id"] for item in (await other.get("/v1/base-models")).json()["items"]}
        assert (await other.get(f"/v1/base-models/{mine['id']}")).status_code == 404
        stolen = await other.post("/v1/base-models", json={"name": "x", "store_path": f"orgs/{org.org_id}/uploads/"})
        assert stolen.status_code == 422
        assert "store_path" in stolen.json()["detail"]


@pytest.fixture
async def ready_snapshot(org: OrgClient) -> dict[str, Any]:
    return await text_snapshot(org, review_rows(120, seed=11), [{"column": "sentiment"}])


@pytest.mark.parametrize(
    ("change", "status", "error", "mentions"),
    [
        ({"base_model": "no-such-model"}, 404, "BaseModelNotFound", "base_model"),
        ({"train_snapshot_id": "snap_00000000000000000000000001"}, 404, "SnapshotNotFound", "train_snapshot_id"),
        ({"test_snapshot_id": "snap_00000000000000000000000000"}, 422, "InvalidRequest", "exactly one"),
        ({"method": "distill"}, 422, "InvalidRequest", "method"),
        ({"options": {"learning_rate": -1}}, 422, "InvalidRequest", "learning_rate"),
        ({"options": {"batch_size": 100_000}}, 422, "InvalidRequest", "batch_size"),
        ({"options": {"lora": {"r": 0}}}, 422, "InvalidRequest", "r"),
        ({"options": {"selection": {"metric": "f1", "head": "nope"}}}, 422, "InvalidRequest", "selection.head"),
        (
            {"options": {"selection": {"metric": "f1", "head": "sentiment", "class": "meh"}}},
            422,
            "InvalidRequest",
            "selection.class",
        ),
        ({"options": {"class_weights": {"sentiment": {"meh": 2}}}}, 422, "InvalidRequest", "class_weights"),
        ({"options": {"unknown_option": 1}}, 422, "InvalidRequest", "unknown_option"),
        ({"model_type": "image_classification"}, 422, "InvalidRequest", "base_model"),
        # No model_type: the text snapshot's type, which an image base model is not for.
        ({"base_model": "mobilenet-v2"}, 422, "InvalidRequest", "not text_classification (the training snapshot's"),
        ({"parent_model_id": "model_00000000000000000000000000"}, 404, "ModelNotFound", "parent_model_id"),
    ],
)
async def test_bad_requests_are_refused_with_the_field_and_reason(
    org: OrgClient,
    tiny_base: dict[str, Any],
    ready_snapshot: dict[str, Any],
    change: dict[str, Any],
    status: int,
    error: str,
    mentions: str,
) -> None:
    request = model_request(tiny_base["id"], ready_snapshot["id"]) | change
    response = await org.post("/v1/models", json=request)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error
    assert mentions in body["detail"]
    assert (await org.get("/v1/models")).json()["items"] == []


async def test_a_method_the_base_model_does_not_support(
    org: OrgClient, trainer_platform: Platform, tiny_bert: Path, ready_snapshot: dict[str, Any]
) -> None:
    base = await register_tiny(org, trainer_platform, tiny_bert, methods=["last_layer"])
    response = await org.post("/v1/models", json=model_request(base["id"], ready_snapshot["id"], "lora"))
    assert response.status_code == 422
    assert "supports ['last_layer'], not 'lora'" in response.json()["detail"]


async def test_a_test_snapshot_must_match_the_train_snapshot(
    org: OrgClient, tiny_base: dict[str, Any], ready_snapshot: dict[str, Any]
) -> None:
    other = await text_snapshot(org, review_rows(120, seed=12), [{"column": "topic"}])
    request = model_request(tiny_base["id"], ready_snapshot["id"]) | {
        "test_split_pct": None,
        "test_snapshot_id": other["id"],
    }
    response = await org.post("/v1/models", json=request)
    assert response.status_code == 422
    assert "test_snapshot_id: not compatible" in response.json()["detail"]


async def test_models_are_isolated_by_org_and_deleting_frees_the_snapshot(
    org: OrgClient, trainer_platform: Platform, tiny_base: dict[str, Any], ready_snapshot: dict[str, Any]
) -> None:
    created = (
        await org.post("/v1/models", json=model_request(tiny_base["id"], ready_snapshot["id"], max_epochs=3))
    ).json()
    assert (await org.delete(f"/v1/snapshots/{ready_snapshot['id']}")).status_code == 409  # in use
    async with trainer_platform.org("others") as other:
        assert (await other.get(f"/v1/models/{created['id']}")).status_code == 404
        assert (await other.get(f"/v1/models/{created['id']}/events")).status_code == 404
        assert (await other.post(f"/v1/models/{created['id']}/cancel")).status_code == 404
        assert (await other.delete(f"/v1/models/{created['id']}")).status_code == 404
        assert (await other.get("/v1/models")).json()["items"] == []
        # Another org's snapshot and parent are not found either.
        theirs = model_request(tiny_base["id"], ready_snapshot["id"])
        assert (await other.post("/v1/models", json=theirs)).status_code == 404
    model = await wait_model(org, created["id"])
    assert model["status"] == "succeeded", model["error"]
    listed = (await org.get("/v1/models")).json()["items"]
    assert [item["id"] for item in listed] == [created["id"]]
    assert (await org.delete(f"/v1/models/{created['id']}")).status_code == 204
    assert (await org.get(f"/v1/models/{created['id']}")).status_code == 404
    assert (await org.delete(f"/v1/snapshots/{ready_snapshot['id']}")).status_code == 204


async def test_a_model_shows_the_options_its_run_uses_with_the_defaults_filled_in(
    org: OrgClient, tiny_base: dict[str, Any], ready_snapshot: dict[str, Any]
) -> None:
    """Asked: max_epochs only. Shown, at once and after the run: the method's defaults and the model type's
    (a text classifier reads 128 tokens), as the worker used them."""
    request = model_request(tiny_base["id"], ready_snapshot["id"], "last_layer", max_epochs=2)
    created = (await org.post("/v1/models", json=request)).json()
    expected = {"max_epochs": 2, "learning_rate": METHOD_DEFAULTS["last_layer"]["learning_rate"]}
    expected |= {"batch_size": METHOD_DEFAULTS["last_layer"]["batch_size"], "max_length": 128, "seed": 42}
    assert {key: created["options"].get(key) for key in expected} == expected
    model = await wait_model(org, created["id"])
    assert model["status"] == "succeeded", model["error"]
    assert {key: model["options"].get(key) for key in expected} == expected
    assert TrainingOptions.model_validate(model["options"]) == TrainingOptions.model_validate(created["options"])


async def test_a_parent_must_have_succeeded_with_the_same_method(
    org: OrgClient, tiny_base: dict[str, Any], ready_snapshot: dict[str, Any]
) -> None:
    parent = (
        await org.post("/v1/models", json=model_request(tiny_base["id"], ready_snapshot["id"], max_epochs=300))
    ).json()
    child = model_request(tiny_base["id"], ready_snapshot["id"]) | {"parent_model_id": parent["id"]}
    response = await org.post("/v1/models", json=child)
    assert response.status_code == 422
    assert "must have succeeded" in response.json()["detail"]
    await org.post(f"/v1/models/{parent['id']}/cancel")


async def test_a_hugging_face_id_is_registered_and_imported_when_first_used(
    org: OrgClient, ready_snapshot: dict[str, Any]
) -> None:
    both = await org.post("/v1/base-models", json={"name": "x", "hf_id": "a/b", "store_path": f"orgs/{org.org_id}/m"})
    assert both.status_code == 422
    assert "exactly one" in both.json()["detail"]
    bad = await org.post("/v1/base-models", json={"name": "x", "hf_id": "../../etc"})
    assert bad.status_code == 422
    registered = await org.post("/v1/base-models", json={"name": "hub model", "hf_id": "org-name/some-model"})
    assert registered.status_code == 201, registered.text
    assert registered.json()["status"] == "importing"
    # The tests run with HF_HUB_OFFLINE=1 (no hub here): the import fails and says why.
    created = await org.post("/v1/models", json=model_request(registered.json()["id"], ready_snapshot["id"]))
    model = await wait_model(org, created.json()["id"], timeout_s=60)
    assert model["status"] == "failed"
    assert "could not fetch org-name/some-model from the Hugging Face hub" in model["error"]
    base = (await org.get(f"/v1/base-models/{registered.json()['id']}")).json()
    assert base["status"] == "failed"
    assert base["error"]


async def test_worker_events_need_the_job_token(
    org: OrgClient, trainer_platform: Platform, tiny_base: dict[str, Any], ready_snapshot: dict[str, Any]
) -> None:
    import httpx

    created = (
        await org.post("/v1/models", json=model_request(tiny_base["id"], ready_snapshot["id"], max_epochs=2))
    ).json()
    url = f"{trainer_platform.service_urls['trainer']}/jobs/{created['id']}/events"
    async with httpx.AsyncClient() as client:
        missing = await client.post(url, json={"kind": "succeeded"})
        wrong = await client.post(url, json={"kind": "succeeded"}, headers={"Authorization": "Bearer nope"})
    assert missing.status_code == 401
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "Unauthorized"
    model = await wait_model(org, created["id"])
    assert model["status"] == "succeeded", model["error"]
