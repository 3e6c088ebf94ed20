from __future__ import annotations

from functools import partial

from fastapi import APIRouter, status

from automl_common.auth import OrgIdDep
from automl_common.db import after_commit
from automl_common.deps import PageDep, SessionDep
from automl_common.errors import BadGateway, Conflict, InvalidRequest, NotFound, ServiceUnavailable, error_responses
from automl_common.ids import IdPath
from automl_common.quotas import OrgQuotaExceeded
from automl_common.schemas import Page
from automl_proto import inference as schemas
from inference_svc.deployments import service
from inference_svc.deps import InferenceSettingsDep, InputsDep, ManagerDep, PayerDep, ServeCallsDep, TrainerDep

router = APIRouter(prefix="/v1/deployments", tags=["deployments"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.Deployment,
    responses=error_responses(NotFound, Conflict, InvalidRequest, OrgQuotaExceeded, BadGateway, ServiceUnavailable),
)
async def create_deployment(
    body: schemas.DeploymentCreate,
    session: SessionDep,
    trainer: TrainerDep,
    settings: InferenceSettingsDep,
    manager: ManagerDep,
    org_id: OrgIdDep,
) -> schemas.Deployment:
    """Serve a succeeded model on Ray Serve; `deploying` until its replicas are up."""
    row = await service.create_deployment(session, trainer, settings, manager.calls, org_id, body)
    after_commit(session, partial(manager.schedule_deploy, row.id))
    return service.to_schema(row)


@router.get("", response_model=Page[schemas.Deployment], responses=error_responses(InvalidRequest))
async def list_deployments(session: SessionDep, org_id: OrgIdDep, page: PageDep) -> Page[schemas.Deployment]:
    """The org's deployments, newest first, a page at a time."""
    return await service.list_deployments(session, org_id, limit=page.limit, after=page.after)


@router.get("/{deployment_id}", response_model=schemas.Deployment, responses=error_responses(NotFound))
async def get_deployment(deployment_id: IdPath, session: SessionDep, org_id: OrgIdDep) -> schemas.Deployment:
    """One deployment: its status, replicas, scaling, batching and operating point."""
    return service.to_schema(await service.get_row(session, org_id, deployment_id))


@router.patch(
    "/{deployment_id}",
    response_model=schemas.Deployment,
    responses=error_responses(NotFound, InvalidRequest, OrgQuotaExceeded),
)
async def update_deployment(
    deployment_id: IdPath,
    body: schemas.DeploymentUpdate,
    session: SessionDep,
    settings: InferenceSettingsDep,
    manager: ManagerDep,
    trainer: TrainerDep,
    org_id: OrgIdDep,
) -> schemas.Deployment:
    """Change scaling or batching (replicas are replaced in the background), the name, or the operating point
    (the cut-offs per head and class its predictions' ``predicted`` follow; versioned, applied at once)."""
    row, redeploy = await service.update_deployment(session, settings, trainer, org_id, deployment_id, body)
    if redeploy:
        after_commit(session, partial(manager.schedule_deploy, row.id))
    return service.to_schema(row)


@router.delete("/{deployment_id}", status_code=status.HTTP_202_ACCEPTED, responses=error_responses(NotFound))
async def delete_deployment(
    deployment_id: IdPath, session: SessionDep, manager: ManagerDep, org_id: OrgIdDep
) -> schemas.Deployment:
    """Stop serving; the deployment answers `deleting` until its replicas are gone, then 404."""
    row = await service.mark_deleting(session, org_id, deployment_id)
    after_commit(session, partial(manager.schedule_delete, row.id))
    return service.to_schema(row)


@router.post(
    "/{deployment_id}/predict",
    response_model=schemas.PredictResponse,
    responses=error_responses(NotFound, Conflict, InvalidRequest, ServiceUnavailable),
)
async def predict(
    deployment_id: IdPath,
    body: schemas.PredictRequest,
    session: SessionDep,
    calls: ServeCallsDep,
    reader: InputsDep,
    payer: PayerDep,
) -> schemas.PredictResponse:
    """Per input and head: every class's score (highest first) and the predicted classes. Text models take
    strings; image models ``{"image_url": ...}`` (fetched with the SSRF guard) or ``{"image_base64": ...}``."""
    return await service.predict(session, calls, reader, payer, deployment_id, body)
