"""Async tasks: a predict call answered later. The result is stored (GET /v1/tasks/{id}) and, with a
callback URL, POSTed there (SSRF-guarded, retried with exponential backoff). Pending tasks survive a restart."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from automl_common.db import utcnow
from automl_common.ids import new_id
from automl_common.quotas import enforce_org_quota
from automl_common.ssrf import FetchError, GuardedFetcher
from automl_proto import inference as schemas
from inference_svc.deployments import service as deployments
from inference_svc.errors import CallbackRefused, TaskNotFound
from inference_svc.inputs import InputReader, stored
from inference_svc.settings import InferenceSettings
from inference_svc.tables import TaskRow
from inference_svc.tasks.repository import TaskRepository
from inference_svc.usage.meter import Payer


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
    return await repository.add(row)


async def get_task(session: AsyncSession, org_id: str, task_id: str) -> TaskRow:
    row = await TaskRepository(session).get_in_org(org_id, task_id)
    if row is None:
        raise TaskNotFound(f"task {task_id!r} not found")
    return row
