"""inference-svc through the gateway, on the process's one local Ray: a platform with every service (kept for
the module: Ray apps and a trained model are slow to make), an org, and a tiny model trained through the API."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.llm import llm_request, llm_snapshot, yes_no_records
from tests.support.platform import OrgClient, Platform, run_platform
from tests.support.tiny_models import build_tiny_llama
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


# -- an llm model and its deployment (test_llm_serving) -------------------------------------------------
PAIRS = {"prompt_column": "prompt", "completion_column": "completion"}


@pytest.fixture(scope="module")
async def llm_model(
    org: OrgClient, inference_platform: Platform, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    llama = build_tiny_llama(tmp_path_factory.mktemp("tiny-llama") / "model")
    base = await register_tiny(org, inference_platform, llama, name="tiny-llama", model_type="llm")
    snapshot = await llm_snapshot(org, yes_no_records(160, seed=1), **PAIRS)
    request = llm_request(base["id"], snapshot["id"], "lora", max_epochs=4, learning_rate=2e-2, lora={"dropout": 0.0})
    response = await org.post("/v1/models", json=request)
    assert response.status_code == 201, response.text
    model = await wait_model(org, response.json()["id"])
    assert model["status"] == "succeeded", model
    return model


@pytest.fixture(scope="module")
async def llm_deployment(org: OrgClient, llm_model: dict[str, Any]) -> dict[str, Any]:
    return await deploy(org, llm_model["id"], min_replicas=1)


def events_of(body: str) -> list[Any]:
    """The data of each server-sent event, ``[DONE]`` as a string."""
    out: list[Any] = []
    for event in body.split("\n\n"):
        if event.startswith("data: "):
            data = event.removeprefix("data: ")
            out.append(data if data == "[DONE]" else json.loads(data))
    return out


@pytest.fixture(scope="module")
async def reversed_model(org: OrgClient, llm_model: dict[str, Any]) -> dict[str, Any]:
    """A second LoRA model of the same base, trained to answer the other way round."""
    rows = [row | {"completion": "no" if row["completion"] == "yes" else "yes"} for row in yes_no_records(160, 1)]
    snapshot = await llm_snapshot(org, rows, **PAIRS)
    base_id = llm_model["base_model"]
    request = llm_request(base_id, snapshot["id"], "lora", max_epochs=4, learning_rate=2e-2, lora={"dropout": 0.0})
    model = await wait_model(org, (await org.post("/v1/models", json=request)).json()["id"])
    assert model["status"] == "succeeded", model
    return model


async def tokens_of(org: OrgClient, deployment_id: str, key_id: str | None = None) -> tuple[int, int]:
    """(prompt, completion) tokens metered in /v1/usage for the deployment (and key)."""
    rows = [
        row
        for row in (await org.get("/v1/usage")).json()["items"]
        if row["deployment_id"] == deployment_id and key_id in (None, row["key_id"])
    ]
    return sum(row["prompt_tokens"] for row in rows), sum(row["completion_tokens"] for row in rows)
