"""The dispatcher with a job backend that misbehaves as real ones do: it records a submission before making
it and holds no row lock while it does (the API can change the model meanwhile), a job lost between the two
is submitted again as the same attempt, a retriable refusal leaves the model queued, a permanent one fails
it with the reason, and a pending job's reason is shown on the model."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from automl_proto.training import JobSpec
from tests.support.jobs import FakeBackend
from tests.support.platform import OrgClient, Platform, run_platform
from tests.support.training import events, model_request, register_tiny, review_rows, text_snapshot, wait_model
from tests.support.waiting import until
from trainer_svc.jobs.backend import JobBackendError, JobStatus


class Backend(FakeBackend):
    def __init__(self) -> None:
        super().__init__()
        self.refusals: list[JobBackendError] = []
        self.during_submit: Any = None  # a callable run inside submit, on another thread's client
        self.seen: list[JobSpec] = []

    async def submit(self, spec: JobSpec) -> str:
        self.seen.append(spec)
        if self.during_submit is not None:
            await asyncio.to_thread(self.during_submit, spec)
        if self.refusals:
            raise self.refusals.pop(0)
        return await super().submit(spec)


@pytest.fixture
def backend() -> Backend:
    return Backend()


@pytest.fixture
def trainer_platform(tmp_path: Path, postgres_url: str, backend: Backend) -> Iterator[Platform]:
    urls = {"dataset": postgres_url, "gateway": postgres_url, "trainer": postgres_url}
    with run_platform(tmp_path, urls, trainer_overrides={}, trainer_backend=backend) as running:
        yield running


async def new_model(org: OrgClient, tiny_base: dict[str, Any]) -> str:
    snapshot = await text_snapshot(org, review_rows(40, seed=6), [{"column": "sentiment"}])
    created = await org.post("/v1/models", json=model_request(tiny_base["id"], snapshot["id"], "full"))
    assert created.status_code == 201, created.text
    model_id: str = created.json()["id"]
    return model_id


async def test_submitting_holds_no_row_lock(org: OrgClient, tiny_base: dict[str, Any], backend: Backend) -> None:
    answers: list[int] = []

    def rename_meanwhile(spec: JobSpec) -> None:  # blocks until the database lets it write the model's row
        with httpx.Client(base_url=str(org.base_url), headers=dict(org.headers), timeout=10) as client:
            answers.append(client.post(f"/v1/models/{spec.model_id}/cancel").status_code)

    backend.during_submit = rename_meanwhile
    model_id = await new_model(org, tiny_base)

    async def answered() -> bool:
        return bool(answers)

    await until(answered, "the submission never happened")
    assert answers == [200]  # the model's row was free while the job was being submitted
    model = await wait_model(org, model_id)
    assert model["status"] == "cancelled"


async def test_a_job_lost_before_it_was_created_is_submitted_again(
    org: OrgClient, tiny_base: dict[str, Any], backend: Backend
) -> None:
    model_id = await new_model(org, tiny_base)

    async def submitted() -> bool:
        return bool(backend.jobs)

    await until(submitted, "not submitted")
    (handle,) = list(backend.jobs)
    backend.jobs.clear()  # as if trainer-svc stopped between recording the job and creating it

    async def again() -> bool:
        return handle in backend.jobs

    await until(again, "not submitted again")
    assert [spec.attempt for spec in backend.seen] == [1, 1]  # the same attempt, with a new token
    assert backend.seen[0].token != backend.seen[1].token
    backend.end(handle, 0)
    history = [(e["kind"], e["message"]) for e in await events(org, model_id)]
    assert ("log", "submitting again: no such job") in history


def scrape(platform: Platform, series: str) -> float:
    """One series' value from trainer-svc's /metrics."""
    text = httpx.get(f"{platform.service_urls['trainer']}/metrics", timeout=10).text
    values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(series + " ")]
    assert values, f"{series} is not exported"
    return values[0]


async def test_refusals(
    org: OrgClient, tiny_base: dict[str, Any], backend: Backend, trainer_platform: Platform
) -> None:
    backend.refusals = [JobBackendError("the Kubernetes API is unreachable", retriable=True)]
    first = await new_model(org, tiny_base)

    async def submitted() -> bool:
        return bool(backend.jobs)

    await until(submitted, "a retriable refusal was not tried again")
    assert (await org.get(f"/v1/models/{first}")).json()["status"] == "queued"

    backend.refusals = [JobBackendError('jobs.batch is forbidden: User "system:x" cannot create', retriable=False)]
    second = await new_model(org, tiny_base)
    failed = await wait_model(org, second)
    assert failed["status"] == "failed"
    assert failed["error"] == 'could not start: jobs.batch is forbidden: User "system:x" cannot create'
    assert scrape(trainer_platform, 'automl_training_runs_finished_total{outcome="failed"}') == 1


async def test_a_pending_job_says_what_it_waits_for(
    org: OrgClient, tiny_base: dict[str, Any], backend: Backend, trainer_platform: Platform
) -> None:
    model_id = await new_model(org, tiny_base)

    async def shown() -> dict[str, Any] | None:
        body: dict[str, Any] = (await org.get(f"/v1/models/{model_id}")).json()
        return body if body["progress"]["waiting"] else None

    model = await until(shown, "no waiting reason")
    assert (model["status"], model["progress"]["waiting"]) == ("queued", "waiting for the fake scheduler")
    (handle,) = list(backend.jobs)
    backend.jobs[handle] = JobStatus("pending", reason="waiting in the Kueue queue gpu")

    async def changed() -> bool:
        body = (await org.get(f"/v1/models/{model_id}")).json()
        return bool(body["progress"]["waiting"] == "waiting in the Kueue queue gpu")

    await until(changed, "the reason did not change")
    kinds = [(e["kind"], e["message"]) for e in await events(org, model_id)]
    assert ("waiting", "waiting for the fake scheduler") in kinds
    assert ("waiting", "waiting in the Kueue queue gpu") in kinds
    assert scrape(trainer_platform, "automl_training_jobs_waiting") == 1
    assert scrape(trainer_platform, 'automl_training_models{status="queued"}') == 1


async def test_another_orgs_run_gets_the_next_slot_and_each_run_knows_its_place(
    trainer_platform: Platform, org: OrgClient, tiny_base: dict[str, Any], backend: Backend, tiny_bert: Path
) -> None:
    """The finding: one FIFO queue, where other orgs' 1-step runs waited 13.5 minutes behind an org's ten
    queued runs (trainer_svc.jobs.fairness)."""
    backend.slots = 1
    greedy = [await new_model(org, tiny_base) for _ in range(4)]

    async def first_submitted() -> bool:
        return len(backend.seen) >= 1

    await until(first_submitted, "the first run was never submitted")
    assert backend.seen[0].model_id == greedy[0]
    async with trainer_platform.org("late") as late:
        late_base = await register_tiny(late, trainer_platform, tiny_bert)
        late_model = await new_model(late, late_base)

        async def placed() -> bool:
            progress = (await late.get(f"/v1/models/{late_model}")).json()["progress"]
            return bool(progress.get("queue_position") == 0)

        await until(placed, "the late org's run was not first in line")
        places = [(await org.get(f"/v1/models/{model_id}")).json()["progress"] for model_id in greedy[1:]]
        assert [place["queue_position"] for place in places] == [1, 2, 3]
        assert "1 run(s) before this one" in places[0]["waiting"]
        cancelled = await org.post(f"/v1/models/{greedy[0]}/cancel")  # the first run's slot frees
        assert cancelled.status_code == 200, cancelled.text

        async def late_submitted() -> bool:
            return len(backend.seen) >= 2

        await until(late_submitted, "no second submission")
        assert backend.seen[1].model_id == late_model  # not the greedy org's second run
