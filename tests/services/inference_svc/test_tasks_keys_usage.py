"""Async tasks with callbacks (private addresses allowed here, as in a local demo), deployment-scoped keys,
org isolation, and usage metering per deployment, key and day."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.services.inference_svc.conftest import deploy
from tests.support.api import bearer
from tests.support.callback_server import callback_server
from tests.support.platform import OrgClient, Platform


@pytest.fixture(scope="module")
def inference_overrides() -> dict[str, Any]:
    return {"allow_private_callbacks": True}


@pytest.fixture(scope="module")
async def deployment(org: OrgClient, trained_model: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
    deployed = await deploy(org, trained_model["id"], min_replicas=1, max_replicas=1)
    yield deployed
    await org.delete(f"/v1/deployments/{deployed['id']}")


async def wait_task(org: OrgClient, task_id: str, done: Any, timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        body: dict[str, Any] = (await org.get(f"/v1/tasks/{task_id}")).json()
        if done(body):
            return body
        if time.monotonic() > deadline:
            raise TimeoutError(f"task {task_id}: {body}")
        await asyncio.sleep(0.1)


async def test_task_result_is_stored_and_called_back(org: OrgClient, deployment: dict[str, Any]) -> None:
    texts = ["great football match", "awful song"]
    with callback_server(fail_first=1) as hook:
        created = await org.post(
            f"/v1/deployments/{deployment['id']}/tasks", json={"inputs": texts, "callback_url": hook.url}
        )
        assert created.status_code == 202, created.text
        assert created.json()["status"] == "queued"
        task = await wait_task(
            org, created.json()["task_id"], lambda t: t["callback"] and t["callback"]["status"] != "pending"
        )
    assert task["status"] == "succeeded"
    assert task["callback"] == {"url": hook.url, "status": "delivered", "attempts": 2, "last_error": None}
    direct = await org.post(f"/v1/deployments/{deployment['id']}/predict", json={"inputs": texts})
    assert task["outputs"] == direct.json()["outputs"]
    assert len(hook.received) == 1
    assert hook.received[0]["task_id"] == task["task_id"]
    assert hook.received[0]["outputs"] == task["outputs"]


async def test_task_without_callback_and_bad_tasks(org: OrgClient, deployment: dict[str, Any]) -> None:
    created = await org.post(f"/v1/deployments/{deployment['id']}/tasks", json={"inputs": ["fine"]})
    assert created.status_code == 202
    task = await wait_task(org, created.json()["task_id"], lambda t: t["status"] in ("succeeded", "failed"))
    assert task["status"] == "succeeded"
    assert task["callback"] is None
    assert len(task["outputs"]) == 1
    bad_url = await org.post(
        f"/v1/deployments/{deployment['id']}/tasks", json={"inputs": ["x"], "callback_url": "ftp://example.com/x"}
    )
    assert bad_url.status_code == 422
    assert bad_url.json()["error"] == "CallbackRefused"
    assert (await org.get("/v1/tasks/task_00000000000000000000000000")).status_code == 404


async def test_deployment_key_can_only_predict_on_its_deployment(
    org: OrgClient, deployment: dict[str, Any], trained_model: dict[str, Any], inference_platform: Platform
) -> None:
    created = await org.post("/v1/keys", json={"name": "app", "scope": "deployment", "deployment_id": deployment["id"]})
    assert created.status_code == 201, created.text
    key = created.json()["key"]
    async with httpx.AsyncClient(base_url=inference_platform.gateway_url, headers=bearer(key), timeout=60) as app:
        allowed = await app.post(f"/v1/deployments/{deployment['id']}/predict", json={"inputs": ["good"]})
        assert allowed.status_code == 200, allowed.text
        refused = [
            await app.get(f"/v1/deployments/{deployment['id']}"),
            await app.get("/v1/deployments"),
            await app.patch(f"/v1/deployments/{deployment['id']}", json={"max_replicas": 2}),
            await app.delete(f"/v1/deployments/{deployment['id']}"),
            await app.post(f"/v1/deployments/{deployment['id']}/tasks", json={"inputs": ["good"]}),
            await app.post("/v1/deployments/dep_00000000000000000000000009/predict", json={"inputs": ["good"]}),
            await app.post(f"/v1/models/{trained_model['id']}/playground", json={"input": "good"}),
            await app.get(f"/v1/models/{trained_model['id']}"),
            await app.get("/v1/datasets"),
            await app.get("/v1/keys"),
            await app.get("/v1/usage"),
        ]
        assert [r.status_code for r in refused] == [403] * len(refused)
        assert all(r.json()["error"] == "Forbidden" for r in refused)


async def test_other_orgs_see_nothing(
    deployment: dict[str, Any], trained_model: dict[str, Any], inference_platform: Platform
) -> None:
    async with inference_platform.org("strangers") as other:
        assert (await other.get(f"/v1/deployments/{deployment['id']}")).status_code == 404
        assert (await other.get("/v1/deployments")).json()["items"] == []
        predict = await other.post(f"/v1/deployments/{deployment['id']}/predict", json={"inputs": ["good"]})
        assert predict.status_code == 404
        task = await other.post(f"/v1/deployments/{deployment['id']}/tasks", json={"inputs": ["good"]})
        assert task.status_code == 404
        assert (await other.delete(f"/v1/deployments/{deployment['id']}")).status_code == 404
        steal = await other.post("/v1/deployments", json={"model_id": trained_model["id"], "name": "mine"})
        assert steal.status_code == 404
        key = await other.post("/v1/keys", json={"name": "x", "scope": "deployment", "deployment_id": deployment["id"]})
        assert key.status_code == 422
        assert "deployment_id" in key.json()["detail"]
        # Calls to a deployment their org does not have are no deployment's usage; the owner's stays hidden.
        assert (await other.get("/v1/usage")).json()["items"] == []


async def test_usage_per_deployment_key_and_day(org: OrgClient, deployment: dict[str, Any]) -> None:
    path = f"/v1/deployments/{deployment['id']}/predict"
    created = await org.post(
        "/v1/keys", json={"name": "meter", "scope": "deployment", "deployment_id": deployment["id"]}
    )
    key = created.json()
    before = await usage_of(org, deployment["id"], key["id"])
    assert before is None
    async with httpx.AsyncClient(base_url=str(org.base_url), headers=bearer(key["key"]), timeout=60) as app:
        for _ in range(5):
            assert (await app.post(path, json={"inputs": ["good"]})).status_code == 200
        assert (await app.post(path, json={"inputs": [{"image_base64": "AAAA"}]})).status_code == 422
    row = await usage_of(org, deployment["id"], key["id"])
    assert row is not None
    assert row["requests"] == 6
    assert row["errors"] == 1
    assert 0 < row["mean_latency_ms"] <= row["max_latency_ms"]
    bad_range = await org.get("/v1/usage", params={"from": "2026-02-01", "to": "2026-01-01"})
    assert bad_range.status_code == 422


async def usage_of(org: OrgClient, deployment_id: str, key_id: str) -> dict[str, Any] | None:
    response = await org.get("/v1/usage")
    assert response.status_code == 200, response.text
    rows = [r for r in response.json()["items"] if r["deployment_id"] == deployment_id and r["key_id"] == key_id]
    return rows[0] if rows else None
