"""The one contract every job backend keeps, run against each of them: the local processes (real
subprocesses ending each way a worker can), the Kubernetes Jobs (on kmock, this test playing the Job
controller and the kubelet), and the in-memory fake the dispatcher tests use.

A harness per backend: ``backend`` and ``act(handle, behaviour)``, which makes a submitted job do what a
worker would (the local worker does it itself; on Kubernetes the pod and Job status are written)."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

import pytest

from tests.support.jobs import FakeBackend, job_spec
from tests.support.kube import ApiServer, Controller, api_server, kubeconfig
from trainer_svc.jobs.backend import JobBackend, JobStatus
from trainer_svc.jobs.k8s import KubernetesBackend
from trainer_svc.jobs.local import LocalProcessBackend
from trainer_svc.settings import TrainerSettings

__all__ = ["api_server"]
LINES = [f"line {n}" for n in range(100)]


class Harness(Protocol):
    backend: JobBackend

    async def act(self, handle: str, behaviour: str) -> None: ...


class LocalHarness:
    def __init__(self, tmp_path: Path) -> None:
        python = tmp_path / "python"  # runs the fake worker whatever the backend asks it to run
        fake = Path(__file__).resolve().parents[3] / "support" / "fake_worker.py"
        python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{fake}" "$@"\n')
        python.chmod(0o755)
        self.local = LocalProcessBackend(tmp_path / "jobs", python=str(python), env={}, max_concurrent=4, grace_s=2)
        self.backend: JobBackend = self.local

    async def act(self, handle: str, behaviour: str) -> None:
        return None  # the process does it


class KubernetesHarness:
    def __init__(self, server: ApiServer, tmp_path: Path) -> None:
        settings = TrainerSettings(
            job_backend="kubernetes",
            k8s_kubeconfig=kubeconfig(str(server.url), tmp_path / "kubeconfig", "contract"),
            k8s_api_backoff_s=0.01,
        )
        self.backend: JobBackend = KubernetesBackend(settings)
        self.cluster = Controller(server, "contract")
        self.server = server

    async def act(self, handle: str, behaviour: str) -> None:
        name = handle.rsplit("/", 1)[1]
        c = self.cluster
        if behaviour == "succeed":
            c.pod(name, phase="Succeeded", **c.terminated(0, "Completed"))
            c.set_job_condition(name, "Complete")
        elif behaviour == "bad_input":
            c.pod(name, phase="Failed", **c.terminated(2))
            c.set_job_condition(name, "Failed", "PodFailurePolicy")
        elif behaviour in ("killed", "interrupted"):
            c.pod(name, phase="Failed", **c.terminated(137 if behaviour == "killed" else 3))
            c.set_job_condition(name, "Failed", "BackoffLimitExceeded")
        elif behaviour == "run":
            pod = c.pod(name, phase="Running")
            self.server[f"get /api/v1/namespaces/contract/pods/{pod}/log"] << (
                lambda request: "".join(f"{line}\n" for line in LINES[-int(request.params["tailLines"]) :]).encode()
            )


class FakeHarness:
    def __init__(self) -> None:
        self.fake = FakeBackend()
        self.backend: JobBackend = self.fake

    async def act(self, handle: str, behaviour: str) -> None:
        fake = self.fake
        if behaviour == "run":
            fake.start(handle, LINES)
        else:
            fake.end(handle, {"succeed": 0, "bad_input": 2, "killed": -9, "interrupted": 3}[behaviour])


@pytest.fixture(params=["local", "kubernetes", "fake"])
async def harness(request: pytest.FixtureRequest, tmp_path: Path, api_server: ApiServer) -> AsyncIterator[Harness]:
    made: Harness
    if request.param == "local":
        made = LocalHarness(tmp_path)
    elif request.param == "kubernetes":
        made = KubernetesHarness(api_server, tmp_path)
    else:
        made = FakeHarness()
    yield made
    await made.backend.aclose()


async def run(harness: Harness, behaviour: str, attempt: int = 1) -> tuple[str, JobStatus]:
    """Submit a job that does ``behaviour``; its status once it has done it."""
    spec = job_spec(behaviour, attempt=attempt)
    handle = await harness.backend.submit(spec)
    assert handle == harness.backend.handle_for(spec)
    await harness.act(handle, behaviour)
    deadline = time.monotonic() + 30
    while True:
        status = await harness.backend.status(handle)
        if status.finished or (behaviour == "run" and status.state == "running"):
            return handle, status
        assert time.monotonic() < deadline, status
        await asyncio.sleep(0.05)


async def test_a_job_that_succeeds(harness: Harness) -> None:
    _, status = await run(harness, "succeed")
    assert (status.state, status.exit_code, status.restartable) == ("succeeded", 0, False)


async def test_bad_input_fails_for_good(harness: Harness) -> None:
    _, status = await run(harness, "bad_input")
    assert (status.state, status.exit_code, status.restartable) == ("failed", 2, False)
    assert "bad input" in (status.reason or "")


async def test_a_kill_from_outside_is_restartable_in_one_vocabulary(harness: Harness) -> None:
    _, status = await run(harness, "killed")  # -9 from a process, 137 from a pod: SIGKILL either way
    assert (status.state, status.restartable) == ("failed", True)
    assert status.exit is not None and status.exit.signal is not None and status.exit.signal.name == "SIGKILL"
    assert "SIGKILL" in (status.reason or "")


async def test_an_interrupted_worker_is_restartable(harness: Harness) -> None:
    _, status = await run(harness, "interrupted")
    assert (status.state, status.exit_code, status.restartable) == ("failed", 3, True)


async def test_a_running_job_logs_and_cancel(harness: Harness) -> None:
    handle, status = await run(harness, "run")
    assert status.state == "running"
    deadline = time.monotonic() + 10
    while (logs := await harness.backend.logs(handle, 3)).splitlines() != LINES[-3:]:
        assert time.monotonic() < deadline, logs
        await asyncio.sleep(0.05)
    await harness.backend.cancel(handle)
    deadline = time.monotonic() + 15
    while (await harness.backend.status(handle)).state in ("running", "pending"):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    await harness.backend.cancel(handle)  # idempotent


async def test_submitting_twice_is_one_job(harness: Harness) -> None:
    spec = job_spec("run")
    first = await harness.backend.submit(spec)
    await harness.act(first, "run")
    assert await harness.backend.submit(spec) == first
    assert (await harness.backend.status(first)).state in ("pending", "running")
    if isinstance(harness, LocalHarness):
        assert len([p for p in harness.local._processes.values() if p.poll() is None]) == 1
    if isinstance(harness, KubernetesHarness):
        assert len(harness.cluster.jobs()) == 1
    await harness.backend.cancel(first)


async def test_a_job_never_submitted_is_absent(harness: Harness) -> None:
    assert (await harness.backend.status(harness.backend.handle_for(job_spec("never", attempt=9)))).state == "absent"
