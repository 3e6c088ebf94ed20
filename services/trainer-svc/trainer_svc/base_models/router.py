from __future__ import annotations

from fastapi import APIRouter, status

from automl_common.auth import OrgIdDep
from automl_common.deps import SessionDep
from automl_common.errors import InvalidRequest, NotFound, error_responses
from automl_common.ids import BaseModelIdPath
from automl_common.schemas import Page
from automl_proto import models as schemas
from trainer_svc.base_models import service

router = APIRouter(prefix="/v1/base-models", tags=["base models"])


@router.get("", response_model=Page[schemas.BaseModelInfo])
async def list_base_models(session: SessionDep, org_id: OrgIdDep) -> Page[schemas.BaseModelInfo]:
    """The built-in base models and the org's own, each with the methods it supports."""
    rows = await service.list_for_org(session, org_id)
    return Page(items=[service.to_schema(row) for row in rows], next=None)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.BaseModelInfo,
    responses=error_responses(InvalidRequest),
)
async def register_base_model(
    body: schemas.BaseModelRegister, session: SessionDep, org_id: OrgIdDep
) -> schemas.BaseModelInfo:
    """Register a transformers model folder from the object store; imported when a model first uses it."""
    return service.to_schema(await service.register(session, org_id, body))


@router.get("/{base_model_id}", response_model=schemas.BaseModelInfo, responses=error_responses(NotFound))
async def get_base_model(
    base_model_id: BaseModelIdPath, session: SessionDep, org_id: OrgIdDep
) -> schemas.BaseModelInfo:
    """One base model: its type, the methods it supports and whether it is ready to train from."""
    return service.to_schema(await service.get_for_org(session, org_id, base_model_id))
