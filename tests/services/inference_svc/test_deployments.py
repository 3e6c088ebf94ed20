"""Deployments through the gateway on a real local Ray Serve: deploy, predict (checked against the same
model loaded in-process), clear errors for bad input, scale up under load and back down, update, delete."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from automl_common.context import INTERNAL_TOKEN_HEADER, ORG_ID_HEADER
from automl_common.storage import FilesystemStore, download_prefix
from modelkit.predict import ClassifierPredictor
from tests.services.inference_svc.conftest import deploy, wait_replicas
from tests.support.api import INTERNAL_TOKEN
from tests.support.platform import OrgClient, Platform

TEXTS = ["great lovely football match the a", "awful terrible song band is the", "happy excellent news vote a"]


async def in_process_predictor(
    platform: Platform, org: OrgClient, model_id: str, tmp_path: Path
) -> ClassifierPredictor:
    """The model loaded from its artifacts in this process, found where trainer-svc says they are."""
    async with httpx.AsyncClient(base_url=platform.service_urls["trainer"]) as trainer:
        response = await trainer.get(
            f"/internal/models/{model_id}/artifacts",
            headers={INTERNAL_TOKEN_HEADER: INTERNAL_TOKEN, ORG_ID_HEADER: org.org_id},
        )
    assert response.status_code == 200, response.text
    artifacts = response.json()
    store = FilesystemStore(platform.apps["trainer"].state.settings.resolved_store_root)
    await download_prefix(store, artifacts["artifacts_prefix"], tmp_path / "model")
    await download_prefix(store, artifacts["base_model_prefix"], tmp_path / "base")
    return ClassifierPredictor.load(tmp_path / "model", tmp_path / "base")


async def test_deploy_predict_and_errors(
    org: OrgClient, trained_model: dict[str, Any], inference_platform: Platform, tmp_path: Path
) -> None:
    deployment = await deploy(org, trained_model["id"], min_replicas=1, max_replicas=1)
    # Serve's replica count reaches the deployment with the next reconcile: exactly the one asked for.
    deployment = await wait_replicas(org, deployment["id"], running=1)
    assert deployment["status"] == "ready"
    assert deployment["replicas"]["running"] == 1
    predicted = await org.post(f"/v1/deployments/{deployment['id']}/predict", json={"inputs": TEXTS})
    assert predicted.status_code == 200, predicted.text
    outputs = predicted.json()["outputs"]
    assert len(outputs) == 3
    for output in outputs:
        assert set(output["heads"]) == {"sentiment", "tags"}
        sentiment = output["heads"]["sentiment"]
        scores = list(sentiment["scores"].values())
        assert scores == sorted(scores, reverse=True)
        assert abs(sum(scores) - 1) < 1e-4
        assert sentiment["predicted"] == [next(iter(sentiment["scores"]))]
    # The served model is the trained one: same scores as its artifacts loaded in this process.
    local = await in_process_predictor(inference_platform, org, trained_model["id"], tmp_path)
    for served, expected in zip(outputs, local.predict(TEXTS), strict=True):
        for head in ("sentiment", "tags"):
            got = served["heads"][head]["scores"]
            want = expected["heads"][head]["scores"]
            assert np.allclose([got[c] for c in want], list(want.values()), atol=1e-5)
            assert served["heads"][head]["predicted"] == expected["heads"][head]["predicted"]

    path = f"/v1/deployments/{deployment['id']}/predict"
    wrong_kind = await org.post(path, json={"inputs": [{"image_url": "https://example.com/a.png"}]})
    assert wrong_kind.status_code == 422
    assert wrong_kind.json()["error"] == "WrongInputKind"
    assert "inputs[0]" in wrong_kind.json()["detail"]
    too_many = await org.post(path, json={"inputs": ["a"] * 65})
    assert too_many.status_code == 422
    assert too_many.json()["error"] == "TooManyInputs"
    too_long = await org.post(path, json={"inputs": ["ok", "x" * 20_001]})
    assert too_long.status_code == 422
    assert too_long.json()["error"] == "TextTooLong"
    assert "inputs[1]" in too_long.json()["detail"]
    empty = await org.post(path, json={"inputs": []})
    assert empty.status_code == 422
    missing = await org.post("/v1/deployments/dep_00000000000000000000000000/predict", json={"inputs": ["a"]})
    assert missing.status_code == 404
    assert missing.json()["error"] == "DeploymentNotFound"

    deleted = await org.delete(f"/v1/deployments/{deployment['id']}")
    assert deleted.status_code == 202
    assert deleted.json()["status"] == "deleting"
    for _ in range(300):
        gone = await org.get(f"/v1/deployments/{deployment['id']}")
        if gone.status_code == 404:
            break
        await asyncio.sleep(0.1)
    assert gone.status_code == 404
    after = await org.post(path, json={"inputs": ["a"]})
    assert after.status_code == 404
    assert after.json()["error"] == "DeploymentNotFound"


async def test_create_checks_the_model(org: OrgClient, trained_model: dict[str, Any]) -> None:
    unknown = await org.post("/v1/deployments", json={"model_id": "model_00000000000000000000000000", "name": "x"})
    assert unknown.status_code == 404
    assert unknown.json()["error"] == "ModelNotFound"
    bounds = await org.post(
        "/v1/deployments", json={"model_id": trained_model["id"], "name": "x", "min_replicas": 3, "max_replicas": 2}
    )
    assert bounds.status_code == 422
    assert "max_replicas" in bounds.json()["detail"]
    too_big = await org.post("/v1/deployments", json={"model_id": trained_model["id"], "name": "x", "max_replicas": 9})
    assert too_big.status_code == 422
    assert "limit" in too_big.json()["detail"]


async def test_scales_up_under_load_and_back_down(org: OrgClient, trained_model: dict[str, Any]) -> None:
    deployment = await deploy(
        org, trained_model["id"], min_replicas=1, max_replicas=2, target_ongoing_requests=1, max_batch_size=1
    )
    await wait_replicas(org, deployment["id"], 1)
    path = f"/v1/deployments/{deployment['id']}/predict"
    stop = asyncio.Event()

    async def hammer() -> None:
        while not stop.is_set():
            response = await org.post(path, json={"inputs": TEXTS * 4})
            assert response.status_code == 200, response.text

    load = [asyncio.create_task(hammer()) for _ in range(8)]
    try:
        scaled = await wait_replicas(org, deployment["id"], 2, timeout_s=90)
        assert scaled["replicas"]["running"] == 2
    finally:
        stop.set()
        await asyncio.gather(*load)
    await wait_replicas(org, deployment["id"], 1, timeout_s=90)

    # Scale settings change in place; the deployment stays ready to answer.
    updated = await org.patch(f"/v1/deployments/{deployment['id']}", json={"min_replicas": 2})
    assert updated.status_code == 200, updated.text
    assert updated.json()["min_replicas"] == 2
    await wait_replicas(org, deployment["id"], 2, timeout_s=90)
    bad = await org.patch(f"/v1/deployments/{deployment['id']}", json={"max_replicas": 1})
    assert bad.status_code == 422
    assert (await org.post(path, json={"inputs": ["fine"]})).status_code == 200
    assert (await org.delete(f"/v1/deployments/{deployment['id']}")).status_code == 202


async def test_callbacks_to_private_addresses_are_refused_by_default(
    org: OrgClient, trained_model: dict[str, Any]
) -> None:
    """This module's platform keeps the default (allow_private_callbacks off)."""
    deployment = await deploy(org, trained_model["id"])
    for url in ("http://127.0.0.1:9/hook", "http://169.254.169.254/latest", "http://10.0.0.7/x"):
        response = await org.post(
            f"/v1/deployments/{deployment['id']}/tasks", json={"inputs": ["good"], "callback_url": url}
        )
        assert response.status_code == 422, url
        assert response.json()["error"] == "CallbackRefused"
        assert "not allowed" in response.json()["detail"]
    assert (await org.delete(f"/v1/deployments/{deployment['id']}")).status_code == 202
