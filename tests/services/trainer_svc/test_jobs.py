"""The job lifecycle with real worker processes: queueing beyond the concurrency limit, cancellation,
a killed worker resuming from its checkpoint, and failures marked with their reason."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
import torch

from tests.support.platform import OrgClient, Platform
from tests.support.training import (
    events,
    model_request,
    register_tiny,
    review_rows,
    text_snapshot,
    wait_event,
    wait_model,
)

pytestmark = pytest.mark.slow

LONG = {"max_epochs": 400, "learning_rate": 1e-3}


def workers_of(model_id: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if any("trainer_svc.worker" in part for part in cmdline) and any(model_id in part for part in cmdline):
            found.append(process)
    return found


async def start_long_model(org: OrgClient, base_id: str, rows: int = 160, **options: Any) -> dict[str, Any]:
    snapshot = await text_snapshot(org, review_rows(rows, seed=5), [{"column": "sentiment"}])
    response = await org.post("/v1/models", json=model_request(base_id, snapshot["id"], "full", **(LONG | options)))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize("trainer_overrides", [{"max_concurrent_jobs": 1}])
async def test_cancel_stops_the_worker_within_ten_seconds_and_the_queue_moves_on(
    org: OrgClient, tiny_base: dict[str, Any]
) -> None:
    first = await start_long_model(org, tiny_base["id"])
    second = await start_long_model(org, tiny_base["id"], max_epochs=2)
    await wait_event(org, first["id"], "progress")
    # One slot: the second waits, queued and not submitted.
    waiting = (await org.get(f"/v1/models/{second['id']}")).json()
    assert waiting["status"] == "queued"
    assert "submitted" not in {event["kind"] for event in await events(org, second["id"])}
    assert workers_of(first["id"])

    started = time.monotonic()
    cancelled = await org.post(f"/v1/models/{first['id']}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    while workers_of(first["id"]):
        assert time.monotonic() - started < 10, "the worker outlived the 10 s cancellation limit"
        await asyncio.sleep(0.1)
    again = await org.post(f"/v1/models/{first['id']}/cancel")
    assert again.status_code == 409

    done = await wait_model(org, second["id"])
    assert done["status"] == "succeeded", done["error"]
    assert (await org.get(f"/v1/models/{first['id']}")).json()["status"] == "cancelled"


async def test_a_killed_worker_resumes_from_its_last_checkpoint(org: OrgClient, tiny_base: dict[str, Any]) -> None:
    model = await start_long_model(org, tiny_base["id"], rows=400, max_epochs=6)
    deadline = time.monotonic() + 120
    while not [e for e in await events(org, model["id"]) if e["kind"] == "checkpoint" and e["data"]["epoch"] >= 2]:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    for process in workers_of(model["id"]):
        os.kill(process.pid, signal.SIGKILL)
    finished = await wait_model(org, model["id"])
    assert finished["status"] == "succeeded", finished["error"]
    assert finished["attempts"] == 2
    history = await events(org, model["id"])
    restarting = next(event for event in history if event["kind"] == "restarting")
    assert "SIGKILL" in restarting["message"]
    resumed = next(event for event in history if event["kind"] == "resumed")
    assert resumed["data"]["epoch"] >= 2
    metrics = (await org.get(f"/v1/models/{model['id']}/metrics")).json()
    assert [epoch["epoch"] for epoch in metrics["epochs"]] == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]


@pytest.mark.parametrize("trainer_overrides", [{"job_max_attempts": 1}])
async def test_a_killed_worker_without_attempts_left_fails_with_the_reason_and_log(
    org: OrgClient, tiny_base: dict[str, Any]
) -> None:
    model = await start_long_model(org, tiny_base["id"])
    await wait_event(org, model["id"], "progress")
    for process in workers_of(model["id"]):
        os.kill(process.pid, signal.SIGKILL)
    failed = await wait_model(org, model["id"], timeout_s=30)
    assert failed["status"] == "failed"
    assert "killed by SIGKILL" in failed["error"]
    assert "Last log lines" in failed["error"]
    assert failed["finished_at"] is not None


async def test_an_exception_in_the_worker_fails_the_model_with_its_reason(
    org: OrgClient, trainer_platform: Platform, tiny_bert: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    for path in tiny_bert.iterdir():
        (broken / path.name).write_bytes(path.read_bytes())
    (broken / "model.safetensors").write_bytes(b"this is not a safetensors file")
    base = await register_tiny(org, trainer_platform, broken)
    snapshot = await text_snapshot(org, review_rows(120, seed=6), [{"column": "sentiment"}])
    created = (await org.post("/v1/models", json=model_request(base["id"], snapshot["id"]))).json()
    failed = await wait_model(org, created["id"], timeout_s=60)
    assert failed["status"] == "failed"
    assert "safetensors" in failed["error"].lower() or "header" in failed["error"].lower(), failed["error"]
    failure = next(event for event in await events(org, created["id"]) if event["kind"] == "failed")
    assert "Traceback" in failure["data"]["traceback"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine whose torch sees no GPU")
@pytest.mark.parametrize("trainer_overrides", [{"worker_device": "cuda"}])
async def test_a_gpu_run_where_torch_sees_no_gpu_fails_saying_so(org: OrgClient, tiny_base: dict[str, Any]) -> None:
    """A GPU job in a CPU image (or on a node without its driver) fails at once with the reason, rather than
    training for hours on the CPU."""
    snapshot = await text_snapshot(org, review_rows(40, seed=8), [{"column": "sentiment"}])
    created = (await org.post("/v1/models", json=model_request(tiny_base["id"], snapshot["id"]))).json()
    failed = await wait_model(org, created["id"], timeout_s=60)
    assert failed["status"] == "failed"
    assert "a GPU was asked for (device cuda)" in failed["error"], failed["error"]
    assert torch.__version__ in failed["error"]
