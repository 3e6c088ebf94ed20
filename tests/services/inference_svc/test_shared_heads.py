"""The playground answers last-layer classifiers from one shared-encoder app per base model: the encoder held
once, each model's heads loaded beside it. Two orgs' models of one base, called at once and interleaved, each
answer with their own heads, exactly as each model loaded alone in this process; a LoRA or full model still
goes to the multiplexed playground."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from automl_common.storage import FilesystemStore, download_prefix
from modelkit.predict import ClassifierPredictor
from tests.services.inference_svc.conftest import deploy
from tests.support.platform import OrgClient, Platform
from tests.support.training import model_request, register_tiny, review_rows, text_snapshot, wait_model

TEXTS = ["great lovely football match", "awful song", "the election was sad", "a fine day at the match"]


@pytest.fixture(scope="module")
def inference_overrides() -> dict[str, Any]:
    return {"share_classifiers_by_default": True}  # the platform's own default (the test platform's is off)


@pytest.fixture(scope="module")
def gateway_overrides() -> dict[str, Any]:
    return {"rate_limit_per_s": 10_000, "rate_limit_burst": 10_000}


async def alone(platform: Platform, org: OrgClient, model_id: str, base: Path, work: Path) -> list[dict[str, Any]]:
    """The model's answers to ``TEXTS`` from its artifacts loaded whole in this process."""
    store = FilesystemStore(platform.apps["trainer"].state.settings.resolved_store_root)
    await download_prefix(store, f"orgs/{org.org_id}/models/{model_id}/artifacts/", work)
    answers: list[dict[str, Any]] = ClassifierPredictor.load(work, base).predict(TEXTS)
    return answers


def assert_same(got: dict[str, Any], want: dict[str, Any]) -> None:
    assert got["heads"].keys() == want["heads"].keys()
    for name, head in got["heads"].items():
        assert head["predicted"] == want["heads"][name]["predicted"]
        for label, score in head["scores"].items():
            assert score == pytest.approx(want["heads"][name]["scores"][label], abs=1e-5)


async def test_two_orgs_last_layer_models_share_one_encoder_and_keep_their_own_heads(
    org: OrgClient, inference_platform: Platform, trained_model: dict[str, Any], tiny_bert: Path, tmp_path: Path
) -> None:
    async with inference_platform.org("heads-neighbours") as other:
        base = await register_tiny(other, inference_platform, tiny_bert)
        snapshot = await text_snapshot(other, review_rows(120, seed=11), [{"column": "topic"}])
        created = await other.post("/v1/models", json=model_request(base["id"], snapshot["id"], max_epochs=20))
        theirs = await wait_model(other, created.json()["id"])
        assert theirs["status"] == "succeeded", theirs["error"]

        calls = [(org, trained_model["id"], text) for text in TEXTS] + [(other, theirs["id"], text) for text in TEXTS]
        calls = [call for pair in zip(calls[:4], calls[4:], strict=True) for call in pair]  # interleaved
        replies = await asyncio.gather(
            *(
                client.post(f"/v1/models/{model_id}/playground", json={"input": text})
                for client, model_id, text in calls
            )
        )
        assert all(reply.status_code == 200 for reply in replies), [reply.text for reply in replies]

        ours_alone = await alone(inference_platform, org, trained_model["id"], tiny_bert, tmp_path / "ours")
        theirs_alone = await alone(inference_platform, other, theirs["id"], tiny_bert, tmp_path / "theirs")
        for (_, model_id, text), reply in zip(calls, replies, strict=True):
            expected = ours_alone if model_id == trained_model["id"] else theirs_alone
            assert_same(reply.json(), expected[TEXTS.index(text)])
        assert {tuple(reply.json()["heads"]) for reply in replies} == {("sentiment", "tags"), ("topic",)}

    state = inference_platform.apps["inference"].state
    apps = await state.manager.runtime.states()
    prefix = state.settings.serve_app_prefix
    # One shared-encoder app for both orgs' models (one base model); the multiplexed playground never needed.
    assert len([name for name in apps if name.startswith(f"{prefix}-heads-")]) == 1, sorted(apps)
    assert f"{prefix}-playground" not in apps, sorted(apps)


async def test_shared_base_deployments_of_classifiers_answer_from_one_app_with_their_own_operating_points(
    org: OrgClient, inference_platform: Platform, trained_model: dict[str, Any], tiny_bert: Path, tmp_path: Path
) -> None:
    base = await register_tiny(org, inference_platform, tiny_bert, name="tiny-bert-again")  # the same weights
    snapshot = await text_snapshot(org, review_rows(120, seed=12), [{"column": "topic"}])
    created = await org.post("/v1/models", json=model_request(base["id"], snapshot["id"], max_epochs=20))
    topics = await wait_model(org, created.json()["id"])
    assert topics["status"] == "succeeded", topics["error"]

    first = await deploy(org, trained_model["id"], min_replicas=1)  # shared by default: a last-layer classifier
    second = await deploy(org, topics["id"], share_base=True, min_replicas=1)
    assert first["share_base"] and second["share_base"]
    own = await org.post("/v1/deployments", json={"model_id": topics["id"], "name": "own", "share_base": False})
    assert own.status_code == 201 and own.json()["share_base"] is False, own.text
    state = inference_platform.apps["inference"].state
    prefix = state.settings.serve_app_prefix
    apps = await state.manager.runtime.states()
    assert len([name for name in apps if name.startswith(f"{prefix}-shared-")]) == 1, sorted(apps)
    assert (await org.delete(f"/v1/deployments/{own.json()['id']}")).status_code == 202

    strict = {"thresholds": {"sentiment": {"positive": 0.99, "negative": 0.99}}}
    updated = await org.patch(f"/v1/deployments/{first['id']}", json={"operating_point": strict})
    assert updated.status_code == 200, updated.text
    answers = await asyncio.gather(
        org.post(f"/v1/deployments/{first['id']}/predict", json={"inputs": TEXTS}),
        org.post(f"/v1/deployments/{second['id']}/predict", json={"inputs": TEXTS}),
    )
    assert all(answer.status_code == 200 for answer in answers), [answer.text for answer in answers]
    ours, theirs = (answer.json()["outputs"] for answer in answers)
    # Metered per deployment, as any deployment is: one request each, though one app answered both.
    usage = (await org.get("/v1/usage")).json()["items"]
    for deployment in (first, second):
        assert sum(row["requests"] for row in usage if row["deployment_id"] == deployment["id"]) == 1, usage
    ours_alone = await alone(inference_platform, org, trained_model["id"], tiny_bert, tmp_path / "ours")
    topics_alone = await alone(inference_platform, org, topics["id"], tiny_bert, tmp_path / "topics")
    for index, (mine, other) in enumerate(zip(ours, theirs, strict=True)):
        assert_same(other, topics_alone[index])
        scores = mine["heads"]["sentiment"]["scores"]
        for label, score in scores.items():
            assert score == pytest.approx(ours_alone[index]["heads"]["sentiment"]["scores"][label], abs=1e-5)
        # The first deployment's own operating point, applied to its own heads' scores.
        assert mine["heads"]["sentiment"]["predicted"] == [name for name in scores if scores[name] >= 0.99][:1]

    full = await org.post("/v1/models", json=model_request(base["id"], snapshot["id"], "full", max_epochs=1))
    full_model = await wait_model(org, full.json()["id"])
    assert full_model["status"] == "succeeded", full_model["error"]
    refused = await org.post("/v1/deployments", json={"model_id": full_model["id"], "name": "x", "share_base": True})
    assert refused.status_code == 422
    assert "only LoRA llm models and last-layer classifiers share a base model" in refused.json()["detail"]
    whole = await org.post("/v1/deployments", json={"model_id": full_model["id"], "name": "x"})
    assert whole.status_code == 201 and whole.json()["share_base"] is False, whole.text  # its own replicas
    assert (await org.delete(f"/v1/deployments/{whole.json()['id']}")).status_code == 202
