"""Runs queued models on the job backend and reconciles what the backend reports.

Every tick: (1) jobs that ended without the worker reporting an outcome are restarted (killed or
interrupted from outside, while attempts remain: the worker resumes from its checkpoint) or marked failed
with the reason and the last log lines; a job still pending shows what it waits for; cancelled models' jobs
are stopped; (2) queued models are submitted while the backend has free slots, fairly between orgs
(``fairness``), and the rest are told their place in line.

A submission is recorded first (the job's handle, known from its spec, and its token's hash) and made
afterwards, outside any row lock; submitting is idempotent by job name, so a trainer-svc stopped in between
finds the job running (adopted) or absent (submitted again) on its next tick."""

from __future__ import annotations

import logging
import secrets
import time

from prometheus_client import CollectorRegistry

from automl_common.clients import SnapshotsClient
from automl_common.db.engine import Database
from automl_common.errors import AutoMLError
from automl_common.http import InternalClient
from automl_common.worker import BackgroundWorker
from automl_proto.models import TrainingOptions
from automl_proto.training import BaseModelFiles, JobSpec, ParentModel, ReadySnapshot, RunLayout
from trainer_svc.base_models.builtin import BaseModelUnavailable
from trainer_svc.base_models.service import BaseModelImporter
from trainer_svc.jobs.backend import JobBackend, JobBackendError, JobStatus
from trainer_svc.jobs.fairness import Queued, fair_order
from trainer_svc.metrics import TrainingMetrics
from trainer_svc.models import status as run_status
from trainer_svc.models.repository import ModelRepository
from trainer_svc.models.worker_events import token_hash
from trainer_svc.settings import TrainerSettings
from trainer_svc.tables import BaseModelRow, TrainingModel

logger = logging.getLogger("automl.trainer.dispatcher")


class SpecError(Exception):
    pass


class Dispatcher(BackgroundWorker):
    name = "dispatcher"

    def __init__(
        self,
        database: Database,
        backend: JobBackend,
        importer: BaseModelImporter,
        snapshots: InternalClient,
        settings: TrainerSettings,
        metrics: TrainingMetrics | None = None,
    ) -> None:
        super().__init__(database)
        self.tick_interval_s = settings.dispatch_interval_s
        self.metrics = metrics or TrainingMetrics(CollectorRegistry())
        self.backend = backend
        self.importer = importer
        self.snapshots = snapshots
        self.settings = settings
        self._cancelling: set[str] = set()
        self._served: dict[str, float] = {}  # org id -> when it last got a slot (fairness between orgs)

    async def cancel_job(self, handle: str) -> None:
        """Stop a job now (its model is being deleted)."""
        await self.backend.cancel(handle)

    async def tick(self) -> None:
        await self._reconcile()
        await self._start_queued()

    # -- reconcile ----------------------------------------------------------------------------------
    async def _reconcile(self) -> None:
        async with self.transaction() as session:
            models = [
                m for m in await ModelRepository(session).in_status("queued", "running", "cancelled") if m.job_handle
            ]
            handles = {model.id: (model.job_handle, model.status) for model in models}
            counts = await ModelRepository(session).count_by_status()
        waiting = 0
        for model_id, (handle, model_status) in handles.items():
            assert handle is not None
            status = await self.backend.status(handle)
            if model_status == "cancelled":
                if status.finished or status.state == "absent":
                    await self._release(model_id, handle)
                elif handle not in self._cancelling:
                    self._cancelling.add(handle)
                    await self.backend.cancel(handle)
                continue
            if status.state == "absent":
                await self._unsubmitted(model_id, handle, status.reason or "the job does not exist")
            elif status.state == "pending":
                waiting += 1
                await self._waiting(model_id, status.reason)
            elif status.finished:
                await self._ended(model_id, handle, status)
        self.metrics.count(counts, waiting)

    async def _release(self, model_id: str, handle: str) -> None:
        self._cancelling.discard(handle)
        self.backend.forget(handle)
        async with self.transaction() as session:
            model = await ModelRepository(session).get(model_id)
            if model is not None and model.job_handle == handle:
                model.job_handle = None

    async def _waiting(self, model_id: str, reason: str | None) -> None:
        """A job the backend has not started yet (no GPU free, queued in Kueue, pulling its image)."""
        async with self.transaction() as session:
            model = await ModelRepository(session).get(model_id)
            if model is None or model.status != "queued" or model.progress.get("waiting") == reason:
                return
            model.progress = {**model.progress, "waiting": reason}
            if reason:
                await ModelRepository(session).add_event(model.id, "waiting", reason)

    async def _unsubmitted(self, model_id: str, handle: str, reason: str) -> None:
        """The recorded job was never created (or its creation failed and may succeed later): the model stays
        queued and is submitted again, as the same attempt, on a later tick."""
        async with self.transaction() as session:
            model = await ModelRepository(session).get_for_update(model_id)
            if model is None or model.job_handle != handle:
                return
            model.job_handle, model.token_hash = None, None
            model.attempts = max(0, model.attempts - 1)
            await ModelRepository(session).add_event(model.id, "log", f"submitting again: {reason}")

    async def _ended(self, model_id: str, handle: str, status: JobStatus) -> None:
        reason = status.reason or "the worker ended"
        tail = await self.backend.logs(handle, self.settings.log_tail_lines)
        if status.state == "failed":
            await self.backend.cancel(handle)  # a job failed by its status (an image that never pulls) stops
        self.backend.forget(handle)
        async with self.transaction() as session:
            model = await ModelRepository(session).get_for_update(model_id)
            if model is None or model.job_handle != handle:
                return
            model.job_handle = None
            if run_status.is_terminal(model.status):  # the worker reported its outcome before it exited
                return
            repository = ModelRepository(session)
            if status.restartable and model.attempts < self.settings.job_max_attempts:
                self.metrics.restarts.inc()
                run_status.move(model, "queued", "dispatcher")
                await repository.add_event(
                    model.id, "restarting", f"{reason}; restarting from the last checkpoint", {"log_tail": tail}
                )
                self.wake()
                return
            run_status.move(
                model, "failed", "dispatcher", error=f"{reason}. Last log lines:\n{tail}" if tail else reason
            )
            data = {"log_tail": tail, "exit_code": status.exit_code}
            await repository.add_event(model.id, "failed", reason, data)
            self.metrics.ended(model.id, "failed")

    # -- start ----------------------------------------------------------------------------------------
    async def _start_queued(self) -> None:
        """Free slots to queued runs in ``fair_order``; every run still waiting is told its place in line."""
        async with self.transaction() as session:
            repository = ModelRepository(session)
            queued = [Queued(m.id, m.org_id) for m in await repository.in_status("queued") if m.job_handle is None]
            holding = await repository.jobs_held_by_org()
        order = fair_order(queued, holding, self._served)
        slots = max(0, self.backend.free_slots())
        orgs = {run.model_id: run.org_id for run in queued}
        for model_id in order[:slots]:
            self._served[orgs[model_id]] = time.monotonic()
            await self._submit(model_id)
        await self._tell_places(order[slots:])

    async def _tell_places(self, waiting: list[str]) -> None:
        """``progress.queue_position``: how many runs get a slot before this one (written when it changes)."""
        if not waiting:
            return
        places = {model_id: position for position, model_id in enumerate(waiting)}
        async with self.transaction() as session:
            for model in await ModelRepository(session).in_status("queued"):  # one read for all of them
                position = places.get(model.id)
                if position is None or model.job_handle is not None:
                    continue
                if model.progress.get("queue_position") != position:
                    model.progress = {
                        **model.progress,
                        "queue_position": position,
                        "waiting": f"a free training slot ({position} run(s) before this one)",
                    }

    async def _submit(self, model_id: str) -> None:
        async with self.transaction() as session:
            queued = await ModelRepository(session).get(model_id)
            if queued is None or queued.status != "queued" or queued.job_handle is not None:
                return
        token = secrets.token_urlsafe(32)
        try:
            spec = await self._spec(queued, token)  # what was read stays readable (expire_on_commit is off)
        except (SpecError, BaseModelUnavailable, AutoMLError) as error:
            await self._fail(model_id, f"could not start: {error}")
            return
        handle = self.backend.handle_for(spec)
        # Recorded first (a short transaction), submitted after it, with no row lock held.
        async with self.transaction() as session:
            model = await ModelRepository(session).get_for_update(model_id)
            if model is None or model.status != "queued" or model.job_handle is not None:
                return
            model.job_handle = handle
            model.token_hash = token_hash(token)
            model.attempts = spec.attempt
            if "queue_position" in model.progress:  # it has its slot
                model.progress = {**model.progress, "queue_position": None, "waiting": None}
        try:
            await self.backend.submit(spec)
        except JobBackendError as error:
            if error.retriable:
                await self._unsubmitted(model_id, handle, str(error))
            else:
                await self._fail(model_id, f"could not start: {error}", handle)
            return
        async with self.transaction() as session:
            await ModelRepository(session).add_event(
                model_id, "submitted", f"attempt {spec.attempt}", {"job_id": spec.job_id, "handle": handle}
            )

    async def _fail(self, model_id: str, reason: str, handle: str | None = None) -> None:
        async with self.transaction() as session:
            model = await ModelRepository(session).get(model_id)
            if model is None or run_status.is_terminal(model.status):
                return
            if handle is not None and model.job_handle == handle:
                model.job_handle = None
            run_status.move(model, "failed", "dispatcher", error=reason)
            await ModelRepository(session).add_event(model.id, "failed", reason)
            self.metrics.ended(model.id, "failed")

    async def _files(self, org_id: str, snapshot_id: str, split_id: str | None = None) -> ReadySnapshot:
        def refused(reason: str) -> SpecError:
            return SpecError(f"snapshot {snapshot_id}: {reason}")

        return await SnapshotsClient(self.snapshots).files(
            org_id, snapshot_id, split_id=split_id, missing=refused, not_ready=refused
        )

    async def _spec(self, model: TrainingModel, token: str) -> JobSpec:
        base: BaseModelRow = await self.importer.ensure_ready(model.base_model_id)
        assert base.sha256 is not None
        assert base.store_prefix is not None
        train = await self._files(model.org_id, model.train_snapshot_id, model.split_id)
        test = await self._files(model.org_id, model.test_snapshot_id) if model.test_snapshot_id else None
        parent = None
        if model.parent_model_id:
            async with self.transaction() as session:
                parent_row = await ModelRepository(session).get(model.parent_model_id)
            if parent_row is None or parent_row.status != "succeeded":
                raise SpecError(f"the parent model {model.parent_model_id} is gone")
            parent = ParentModel(
                id=parent_row.id, name=parent_row.name, artifacts_prefix=RunLayout(parent_row.output_prefix).artifacts
            )
        options = TrainingOptions.model_validate(model.options)
        attempt = model.attempts + 1
        split_description = ""
        if model.split_id:
            split_description = (
                f"{model.test_split_pct:g}% stratified split of snapshot {model.train_snapshot_id} "
                f"(split {model.split_id}, seed {options.seed})"
            )
        return JobSpec(
            job_id=f"{model.id}-{attempt}",
            model_id=model.id,
            org_id=model.org_id,
            model_name=model.name,
            description=model.description,
            model_type=model.model_type,
            method=model.method,
            base_model=BaseModelFiles(id=base.id, name=base.name, sha256=base.sha256, store_prefix=base.store_prefix),
            train=train.files(),
            test=test.files() if test else None,
            split_key=train.split_key,
            split_description=split_description,
            parent=parent,
            options=options,
            output_prefix=model.output_prefix,
            events_url=f"{self.settings.resolved_public_url}/jobs/{model.id}/events",
            token=token,
            attempt=attempt,
        )
