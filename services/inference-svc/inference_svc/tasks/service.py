"""Async tasks: a predict call answered later. The result is stored (GET /v1/tasks/{id}) and, with a
callback URL, POSTed there (SSRF-guarded, retried with exponential backoff). Pending tasks survive a restart."""

from __future__ import annotations

import asyncio
import json
import logging

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from automl_common.db import Database, utcnow
from automl_common.ids import new_id
from automl_common.quotas import enforce_org_quota
from automl_common.ssrf import FetchError, GuardedFetcher
from automl_common.tasks import TaskRegistry
from automl_proto import inference as schemas
from inference_svc.deployments import service as deployments
from inference_svc.deployments.manager import DeploymentManager
from inference_svc.errors import CallbackRefused, DeploymentNotReady, TaskNotFound
from inference_svc.inputs import InputReader, restored, stored
from inference_svc.serving.loader import ModelInput
from inference_svc.settings import InferenceSettings
from inference_svc.tables import DeploymentRow, TaskRow
from inference_svc.tasks.repository import TaskRepository
from inference_svc.usage.meter import Payer

logger = logging.getLogger("automl.inference.tasks")


def to_schema(row: TaskRow) -> schemas.Task:
    callback = None
    if row.callback_url:
        callback = schemas.Callback(
            url=row.callback_url,
            status=row.callback_status or "pending",
            attempts=row.callback_attempts,
            last_error=row.callback_error,
        )
    return schemas.Task(
        task_id=row.id,
        deployment_id=row.deployment_id,
        status=row.status,
        input_count=len(row.inputs),
        outputs=[schemas.output_of(o) for o in row.outputs] if row.outputs is not None else None,
        error=row.error,
        callback=callback,
        created_at=row.created_at,
        finished_at=row.finished_at,
    )


async def create_task(
    session: AsyncSession,
    settings: InferenceSettings,
    reader: InputReader,
    callbacks: GuardedFetcher,
    payer: Payer,
    deployment_id: str,
    request: schemas.TaskCreate,
) -> TaskRow:
    org_id = payer.org_id
    deployment = await deployments.get_row(session, org_id, deployment_id)
    if deployment.status in ("deleting", "failed"):
        deployments.ready_app(deployment)  # raises the matching error
    values = await reader.read(request.inputs, deployment.model_type)
    if request.callback_url is not None:
        try:
            await callbacks.check_url(request.callback_url)
        except FetchError as e:
            raise CallbackRefused(f"callback_url: {e.detail}") from e
    repository = TaskRepository(session)
    await enforce_org_quota(
        session,
        TaskRow,
        org_id,
        used=lambda: repository.count_pending(org_id),
        adding=1,
        limit=settings.max_pending_tasks_per_org,
        what="tasks (queued or running)",
        setting="AUTOML_INFERENCE_MAX_PENDING_TASKS_PER_ORG",
    )
    row = TaskRow(
        id=new_id("task"),
        org_id=org_id,
        deployment_id=deployment.id,
        key_id=payer.key_id,
        status="queued",
        inputs=stored(values),
        callback_url=request.callback_url,
        callback_status="pending" if request.callback_url else None,
        callback_attempts=0,
        created_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    return row


async def get_task(session: AsyncSession, org_id: str, task_id: str) -> TaskRow:
    row = await TaskRepository(session).get_in_org(org_id, task_id)
    if row is None:
        raise TaskNotFound(f"task {task_id!r} not found")
    return row


class TaskRunner:
    """Runs each task in the background: waits for its deployment to be ready, predicts, stores, calls back."""

    def __init__(
        self,
        database: Database,
        manager: DeploymentManager,
        callbacks: GuardedFetcher,
        settings: InferenceSettings,
    ) -> None:
        self.database = database
        self.manager = manager
        self.callbacks = callbacks
        self.settings = settings
        self.tasks = TaskRegistry()

    async def resume(self) -> None:
        async with self.database.session() as session:
            rows = await session.scalars(
                select(TaskRow.id).where(
                    (TaskRow.status.in_(("queued", "running"))) | (TaskRow.callback_status == "pending")
                )
            )
            pending = list(rows)
        for task_id in pending:
            self.schedule(task_id)

    def schedule(self, task_id: str) -> None:
        self.tasks.start(f"task:{task_id}", lambda: self._run(task_id))

    async def aclose(self) -> None:
        await self.tasks.aclose()

    async def _run(self, task_id: str) -> None:
        async with self.database.session() as session:
            row = await session.get(TaskRow, task_id)
            if row is None:
                return
            status, inputs = row.status, restored(row.inputs)
            payer = Payer(row.org_id, row.key_id or "")
            if status in ("queued", "running"):
                row.status = "running"
        if status in ("queued", "running"):
            outputs, error = await self._predict(task_id, inputs, payer)
            async with self.database.session() as session:
                row = await session.get(TaskRow, task_id)
                if row is None:
                    return
                row.status = "failed" if error else "succeeded"
                row.outputs, row.error, row.finished_at = outputs, error, utcnow()
        await self._call_back(task_id)

    async def _predict(
        self, task_id: str, inputs: list[ModelInput], payer: Payer
    ) -> tuple[list[dict[str, object]] | None, str | None]:
        deadline = asyncio.get_running_loop().time() + self.settings.predict_timeout_s
        while True:
            async with self.database.session() as session:
                task = await session.get(TaskRow, task_id)
                deployment = await session.get(DeploymentRow, task.deployment_id) if task else None
                if deployment is None:
                    return None, "the deployment was deleted"
                try:
                    route = deployments.ready_app(deployment)
                except DeploymentNotReady:
                    route = None
                except Exception as e:
                    return None, str(e)
            if route is not None:
                try:
                    return await self.manager.predict(deployment.id, route, inputs, payer), None
                except Exception as e:
                    return None, str(e)
            if asyncio.get_running_loop().time() > deadline:
                return None, f"the deployment was not ready within {self.settings.predict_timeout_s:g} s"
            await asyncio.sleep(0.5)

    async def _call_back(self, task_id: str) -> None:
        delay = self.settings.callback_backoff_s
        while True:
            async with self.database.session() as session:
                row = await session.get(TaskRow, task_id)
                if row is None or not row.callback_url or row.callback_status != "pending":
                    return
                url = row.callback_url
                payload = json.dumps(to_schema(row).model_dump(mode="json")).encode()
            error: str | None = None
            permanent = False
            try:
                status = await self.callbacks.post_json(url, payload)
                if not 200 <= status < 300:
                    error = f"HTTP {status}"
            except FetchError as e:
                error = e.detail
                # A refused address or a malformed URL will not get better with time.
                permanent = e.code in ("blocked_address", "bad_url")
            async with self.database.session() as session:
                row = await session.get(TaskRow, task_id)
                if row is None:
                    return
                row.callback_attempts += 1
                row.callback_error = error
                if error is None:
                    row.callback_status = "delivered"
                    return
                if permanent or row.callback_attempts >= self.settings.callback_max_attempts:
                    row.callback_status = "failed"
                    return
            logger.info("callback for %s failed (%s); retrying in %.1f s", task_id, error, delay)
            await asyncio.sleep(delay)
            delay *= 2
