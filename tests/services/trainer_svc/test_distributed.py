"""Training with several processes (torchrun, gloo, CPU) through the public API: the same code path a
multi-GPU pod runs. Two ranks against one, same seed and global batch; a rank killed mid-epoch; the
listeners the ranks open staying on loopback."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import Any

import psutil
import pytest

from tests.support.platform import OrgClient
from tests.support.training import events, model_request, review_rows, text_snapshot, wait_model

pytestmark = pytest.mark.slow

OPTIONS = {"max_epochs": 3, "learning_rate": 3e-3, "batch_size": 16, "seed": 11}


def ranks_of(model_id: str) -> dict[int, psutil.Process]:
    """The worker processes torchrun started for this model, by local rank."""
    found = {}
    for process in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if "trainer_svc.worker" not in cmdline or model_id not in cmdline:
            continue
        try:
            rank = process.environ().get("LOCAL_RANK")
        except psutil.Error:
            continue
        if rank is not None:
            found[int(rank)] = process
    return found


def listening(processes: list[psutil.Process]) -> list[str]:
    pids = {process.pid for process in processes}
    return [
        f"{c.laddr.ip}:{c.laddr.port}"
        for c in psutil.net_connections("inet")
        if c.status == psutil.CONN_LISTEN and c.pid in pids
    ]


async def test_two_processes_match_one(org: OrgClient, tiny_base: dict[str, Any]) -> None:
    snapshot = await text_snapshot(org, review_rows(240, seed=8), [{"column": "sentiment"}])
    results = {}
    seen_listeners: list[str] = []
    for gpus in (1, 2):
        request = model_request(tiny_base["id"], snapshot["id"], "full", gpus=gpus, **OPTIONS)
        created = await org.post("/v1/models", json=request)
        assert created.status_code == 201, created.text
        model_id = created.json()["id"]
        if gpus == 2:
            deadline = time.monotonic() + 120
            while len(ranks := ranks_of(model_id)) < 2:
                assert time.monotonic() < deadline, "the two ranks did not start"
                await asyncio.sleep(0.1)
            await asyncio.sleep(2)  # the rendezvous and the process group are up
            launchers = [p.parent() for p in ranks.values()]
            seen_listeners = listening([*ranks.values(), *[p for p in launchers if p is not None]])
        model = await wait_model(org, model_id, timeout_s=300)
        assert model["status"] == "succeeded", model["error"]
        history = await events(org, model_id)
        started = next(e for e in history if e["kind"] == "started")
        assert started["data"]["world_size"] == gpus
        metrics = (await org.get(f"/v1/models/{model_id}/metrics")).json()
        results[gpus] = metrics
    one, two = results[1], results[2]
    assert [e["step"] for e in one["epochs"]] == [e["step"] for e in two["epochs"]]  # same global batches
    for mine, theirs in zip(one["epochs"], two["epochs"], strict=True):
        # Each rank averages its half of the global batch and DDP averages the ranks: the same mean as one
        # process; dropout masks differ (drawn per rank), so losses agree to a few percent, not bit for bit.
        assert abs(mine["train_loss"] - theirs["train_loss"]) <= 0.1 * mine["train_loss"] + 0.02
    f1 = [r["heads"]["sentiment"]["macro"]["f1"] for r in (one, two)]
    assert abs(f1[0] - f1[1]) <= 0.1, f1
    assert seen_listeners and all(address.startswith("127.0.0.1:") for address in seen_listeners), seen_listeners


@pytest.mark.parametrize("trainer_overrides", [{"checkpoint_every_steps": 3, "job_max_attempts": 2}])
async def test_a_killed_rank_resumes_from_the_checkpoint(org: OrgClient, tiny_base: dict[str, Any]) -> None:
    snapshot = await text_snapshot(org, review_rows(400, seed=9), [{"column": "sentiment"}])
    request = model_request(tiny_base["id"], snapshot["id"], "full", gpus=2, **(OPTIONS | {"max_epochs": 4}))
    model_id = (await org.post("/v1/models", json=request)).json()["id"]
    deadline = time.monotonic() + 180
    while True:
        mid_epoch = [e for e in await events(org, model_id) if e["kind"] == "checkpoint" and e["data"]["batch"] > 0]
        if mid_epoch and mid_epoch[-1]["data"]["step"] >= 6:
            break
        assert time.monotonic() < deadline, "no checkpoint within an epoch"
        await asyncio.sleep(0.05)
    ranks = ranks_of(model_id)
    os.kill(ranks[1].pid, signal.SIGKILL)

    finished = await wait_model(org, model_id, timeout_s=300)
    assert finished["status"] == "succeeded", finished["error"]
    assert finished["attempts"] == 2
    history = await events(org, model_id)
    restarting = next(e for e in history if e["kind"] == "restarting")
    assert "SIGKILL" in restarting["message"]
    resumed = next(e for e in history if e["kind"] == "resumed")
    assert resumed["data"]["step"] >= 6  # not from the start of the run
    assert resumed["data"]["world_size"] == 2
    assert [e["kind"] for e in history].count("failed") == 0
    metrics = (await org.get(f"/v1/models/{model_id}/metrics")).json()
    assert [epoch["epoch"] for epoch in metrics["epochs"]] == [1.0, 2.0, 3.0, 4.0]


async def test_lora_on_two_ranks_and_no_rank_outlives_its_launcher(org: OrgClient, tiny_base: dict[str, Any]) -> None:
    snapshot = await text_snapshot(org, review_rows(240, seed=10), [{"column": "sentiment"}])
    options = OPTIONS | {"learning_rate": 1e-2, "max_epochs": 8}  # still training when its launcher is killed
    request = model_request(tiny_base["id"], snapshot["id"], "lora", gpus=2, **options)
    model_id = (await org.post("/v1/models", json=request)).json()["id"]
    deadline = time.monotonic() + 120
    while not [e for e in await events(org, model_id) if e["kind"] == "epoch"]:
        assert time.monotonic() < deadline, "the first epoch did not end"
        await asyncio.sleep(0.05)
    ranks = ranks_of(model_id)
    launcher = ranks[0].parent()
    assert launcher is not None and all(rank.parent() == launcher for rank in ranks.values())
    launcher.kill()  # as a SIGKILL after the cancel grace, or the OOM killer, would
    _, alive = psutil.wait_procs(list(ranks.values()), timeout=10)
    assert alive == [], "a rank outlived its launcher"

    finished = await wait_model(org, model_id, timeout_s=300)  # the next attempt resumes, on two ranks again
    assert finished["status"] == "succeeded", finished["error"]
    assert finished["attempts"] == 2
    metrics = (await org.get(f"/v1/models/{model_id}/metrics")).json()
    assert metrics["delta"]["overall"]["f1"] > 0.2  # it learned: far above the majority-class predictor
