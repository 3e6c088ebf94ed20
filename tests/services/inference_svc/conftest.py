"""inference-svc through the gateway, on the process's one local Ray: a platform with every service (kept for
the module: Ray apps and a trained model are slow to make), an org, and a tiny model trained through the API."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.platform import OrgClient, Platform, run_platform
from tests.support.training import model_request, register_tiny, review_rows, text_snapshot, wait_model
from tests.support.whole import module_postgres_url

__all__ = ["module_postgres_url"]

HEADS: list[dict[str, Any]] = [{"column": "sentiment"}, {"column": "tags", "multilabel": True}]


@pytest.fixture(scope="module")
def inference_overrides() -> dict[str, Any]:
    return {}


@pytest.fixture(scope="module")
def gateway_overrides() -> dict[str, Any]:
    return {}


@pytest.fixture(scope="module")
def trainer_overrides() -> dict[str, Any]:
    return {}


@pytest.fixture(scope="module")
def dataset_overrides() -> dict[str, Any]:
    return {}


@pytest.fixture(scope="module")
def inference_platform(
    tmp_path_factory: pytest.TempPathFactory,
    module_postgres_url: str,
    inference_overrides: dict[str, Any],
    gateway_overrides: dict[str, Any],
    trainer_overrides: dict[str, Any],
    dataset_overrides: dict[str, Any],
) -> Iterator[Platform]:
    urls = {name: module_postgres_url for name in ("dataset", "gateway", "trainer", "inference")}
    with run_platform(
        tmp_path_factory.mktemp("inference"),
        urls,
        trainer_overrides=trainer_overrides,
        inference_overrides=inference_overrides,
        dataset_overrides=dataset_overrides,
        gateway_overrides=gateway_overrides,
    ) as running:
        yield running


@pytest.fixture(scope="module")
async def org(inference_platform: Platform) -> AsyncIterator[OrgClient]:
    async with inference_platform.org("servers") as client:
        yield client


@pytest.fixture(scope="module")
async def trained_model(org: OrgClient, inference_platform: Platform, tiny_bert: Path) -> dict[str, Any]:
    """A last-layer model with a single-label and a multi-label head."""
    base = await register_tiny(org, inference_platform, tiny_bert)
    snapshot = await text_snapshot(org, review_rows(160, seed=3), HEADS)
    response = await org.post("/v1/models", json=model_request(base["id"], snapshot["id"], max_epochs=40))
    assert response.status_code == 201, response.text
    model = await wait_model(org, response.json()["id"])
    assert model["status"] == "succeeded", model
    return model


async def deploy(org: OrgClient, model_id: str, timeout_s: float = 120, **scaling: Any) -> dict[str, Any]:
    response = await org.post("/v1/deployments", json={"model_id": model_id, "name": "sentiment", **scaling})
    assert response.status_code == 201, response.text
    return await wait_deployment(org, response.json()["id"], timeout_s)


async def wait_deployment(org: OrgClient, deployment_id: str, timeout_s: float = 120) -> dict[str, Any]:
    body = await org.wait_while(f"/v1/deployments/{deployment_id}", "deploying", timeout_s)
    assert body["status"] == "ready", body
    return body


async def wait_replicas(
    org: OrgClient, deployment_id: str, running: int, timeout_s: float = 60, *, load: Any = None
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        body: dict[str, Any] = (await org.get(f"/v1/deployments/{deployment_id}")).json()
        if body["replicas"]["running"] == running and body["replicas"]["starting"] == 0:
            return body
        if time.monotonic() > deadline:
            raise TimeoutError(f"replicas still {body['replicas']} (wanted {running} running)")
        await asyncio.sleep(0.2)
