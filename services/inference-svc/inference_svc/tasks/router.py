from __future__ import annotations

from functools import partial

from fastapi import APIRouter, status

from automl_common.auth import OrgIdDep
from automl_common.db import after_commit
from automl_common.deps import SessionDep
from automl_common.errors import Conflict, InvalidRequest, NotFound, error_responses
from automl_common.ids import IdPath
from automl_common.quotas import OrgQuotaExceeded
from automl_proto import inference as schemas
from inference_svc.deps import CallbacksDep, InferenceSettingsDep, InputsDep, PayerDep, TaskRunnerDep
from inference_svc.tasks import service

router = APIRouter(tags=["tasks"])


@router.post(
    "/v1/deployments/{deployment_id}/tasks",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=schemas.Task,
    responses=error_responses(NotFound, Conflict, InvalidRequest, OrgQuotaExceeded),
)
async def create_task(
    deployment_id: IdPath,
    body: schemas.TaskCreate,
    session: SessionDep,
    settings: InferenceSettingsDep,
    reader: InputsDep,
    callbacks: CallbacksDep,
    runner: TaskRunnerDep,
    payer: PayerDep,
) -> schemas.Task:
    """Accept inputs now, predict in the background; the result is kept and, with `callback_url`, POSTed."""
    row = await service.create_task(session, settings, reader, callbacks, payer, deployment_id, body)
    after_commit(session, partial(runner.schedule, row.id))
    return service.to_schema(row)


@router.get("/v1/tasks/{task_id}", response_model=schemas.Task, responses=error_responses(NotFound))
async def get_task(task_id: IdPath, session: SessionDep, org_id: OrgIdDep) -> schemas.Task:
    """An asynchronous prediction: its status and, once it has succeeded, its outputs."""
    return service.to_schema(await service.get_task(session, org_id, task_id))
