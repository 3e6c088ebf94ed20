"""Per-org quotas of inference-svc and trainer-svc (deployments, replicas, pending tasks, active batches,
active trainings): a clear 429 naming the setting, the quota freed by deleting or finishing, other orgs not
affected. Work already running (a task, a batch) is put straight into inference-svc's database where
waiting for real work to be at the right stage would race it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from automl_common.db import Database, utcnow
from automl_common.ids import new_id
from inference_svc.tables import BatchPredictionRow, TaskRow
from tests.support.platform import OrgClient, Platform
from tests.support.training import model_request, wait_model


@pytest.fixture(scope="module")
def inference_overrides() -> dict[str, Any]:
    return {
        "max_deployments_per_org": 2,
        "max_replicas_per_org": 3,
        "max_pending_tasks_per_org": 2,
        "max_active_batches_per_org": 1,
    }


@pytest.fixture(scope="module")
def trainer_overrides() -> dict[str, Any]:
    return {"max_active_trainings_per_org": 1}


def refused(response, setting: str) -> None:
    assert response.status_code == 429, response.text
    assert response.json()["error"] == "OrgQuotaExceeded"
    assert setting in response.json()["detail"]


async def test_active_trainings_per_org(org: OrgClient, trained_model: dict[str, Any]) -> None:
    request = model_request(trained_model["base_model"], trained_model["train_snapshot_id"], max_epochs=500)
    first = await org.post("/v1/models", json=request)
    assert first.status_code == 201, first.text
    refused(await org.post("/v1/models", json=request), "AUTOML_TRAINER_MAX_ACTIVE_TRAININGS_PER_ORG")
    assert (await org.post(f"/v1/models/{first.json()['id']}/cancel")).status_code in (200, 202)
    assert (await wait_model(org, first.json()["id"]))["status"] == "cancelled"
    again = await org.post("/v1/models", json=request)
    assert again.status_code == 201, again.text
    await org.post(f"/v1/models/{again.json()['id']}/cancel")
    await wait_model(org, again.json()["id"])


async def test_deployments_and_replicas_per_org(
    org: OrgClient, trained_model: dict[str, Any], inference_platform: Platform
) -> None:
    def create(**scaling: Any):
        return org.post("/v1/deployments", json={"model_id": trained_model["id"], "name": "q", **scaling})

    first = await create(min_replicas=1, max_replicas=2)
    assert first.status_code == 201, first.text
    refused(await create(min_replicas=1, max_replicas=2), "AUTOML_INFERENCE_MAX_REPLICAS_PER_ORG")
    second = await create(min_replicas=1, max_replicas=1)
    assert second.status_code == 201, second.text
    refused(await create(min_replicas=1, max_replicas=1), "AUTOML_INFERENCE_MAX_DEPLOYMENTS_PER_ORG")
    refused(
        await org.patch(f"/v1/deployments/{second.json()['id']}", json={"max_replicas": 2}),
        "AUTOML_INFERENCE_MAX_REPLICAS_PER_ORG",
    )
    # Another org is not held back by this one.
    async with inference_platform.org("neighbour") as neighbour:
        theirs = await neighbour.post("/v1/deployments", json={"model_id": trained_model["id"], "name": "n"})
        assert theirs.status_code == 404  # not their model: isolation first, then quotas

    # Queued work of the org, as if a slow deployment had kept it waiting.
    database = Database.from_url(inference_platform.apps["inference"].state.settings.resolved_database_url)
    try:
        async with database.session() as session:
            for _ in range(2):
                session.add(
                    TaskRow(
                        id=new_id("task"),
                        org_id=org.org_id,
                        deployment_id=second.json()["id"],
                        status="queued",
                        inputs=["x"],
                        callback_attempts=0,
                        created_at=utcnow(),
                    )
                )
            session.add(
                BatchPredictionRow(
                    id=new_id("batch"),
                    org_id=org.org_id,
                    model_id=trained_model["id"],
                    deployment_id=second.json()["id"],
                    format="jsonl",
                    status="queued",
                    artifacts={},
                    rows_done=0,
                    rows_total=1,
                    created_at=utcnow(),
                )
            )
    finally:
        await database.dispose()
    refused(
        await org.post(f"/v1/deployments/{second.json()['id']}/tasks", json={"inputs": ["y"]}),
        "AUTOML_INFERENCE_MAX_PENDING_TASKS_PER_ORG",
    )
    refused(
        await org.post(
            "/v1/batch-predictions",
            json={"deployment_id": second.json()["id"], "snapshot_id": trained_model["train_snapshot_id"]},
        ),
        "AUTOML_INFERENCE_MAX_ACTIVE_BATCHES_PER_ORG",
    )

    # Deleting frees the places.
    for created in (first, second):
        assert (await org.delete(f"/v1/deployments/{created.json()['id']}")).status_code == 202
    third = await create(min_replicas=0, max_replicas=3)
    assert third.status_code == 201, third.text
    assert (await org.delete(f"/v1/deployments/{third.json()['id']}")).status_code == 202


async def test_a_served_model_cannot_be_deleted(org: OrgClient, trained_model: dict[str, Any]) -> None:
    """Last in the module: it deletes the module's model."""
    created = await org.post(
        "/v1/deployments", json={"model_id": trained_model["id"], "name": "kept", "min_replicas": 0}
    )
    assert created.status_code == 201, created.text
    refused_delete = await org.delete(f"/v1/models/{trained_model['id']}")
    assert refused_delete.status_code == 409, refused_delete.text
    assert created.json()["id"] in refused_delete.json()["detail"]
    assert (await org.get(f"/v1/models/{trained_model['id']}")).status_code == 200
    # Once no deployment serves it (deleting ones included), it goes.
    for deployment in (await org.get("/v1/deployments")).json()["items"]:
        await org.delete(f"/v1/deployments/{deployment['id']}")
    deadline = asyncio.get_running_loop().time() + 60
    while (await org.get("/v1/deployments")).json()["items"]:
        assert asyncio.get_running_loop().time() < deadline, "deployments not deleted"
        await asyncio.sleep(0.2)
    assert (await org.delete(f"/v1/models/{trained_model['id']}")).status_code == 204
