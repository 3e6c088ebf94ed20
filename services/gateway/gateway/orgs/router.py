from __future__ import annotations

from fastapi import APIRouter, status

from automl_common.deps import PageDep, SessionDep
from automl_common.errors import (
    Conflict,
    InvalidRequest,
    MalformedJSON,
    NotFound,
    RateLimited,
    Unauthorized,
    error_responses,
)
from automl_common.schemas import Page
from automl_proto.orgs import Org, OrgCreate, OrgCreated
from gateway.auth import OperatorDep, PrincipalDep
from gateway.orgs import service

router = APIRouter(prefix="/v1/orgs", tags=["orgs"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=OrgCreated,
    responses=error_responses(MalformedJSON, Unauthorized, Conflict, InvalidRequest),
)
async def create_org(body: OrgCreate, session: SessionDep, _operator: OperatorDep) -> OrgCreated:
    """Create an org and its first admin key (operator key required)."""
    return await service.create_org(session, body)


@router.get("", response_model=Page[Org], responses=error_responses(Unauthorized, InvalidRequest))
async def list_orgs(session: SessionDep, page: PageDep, _operator: OperatorDep) -> Page[Org]:
    """Every org (operator key required)."""
    return await service.list_orgs(session, limit=page.limit, after=page.after)


@router.get("/me", response_model=Org, responses=error_responses(Unauthorized, NotFound, RateLimited))
async def get_my_org(session: SessionDep, principal: PrincipalDep) -> Org:
    """The caller's org (any key)."""
    return await service.get_org(session, principal.org_id)
