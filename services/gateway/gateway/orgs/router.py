from __future__ import annotations

from fastapi import APIRouter, Request, status

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
from automl_common.ids import IdPath
from automl_common.schemas import Page
from automl_proto.orgs import AdminKeyCreate, KeyCreated, Org, OrgCreate, OrgCreated
from gateway.auth import OperatorDep, PrincipalDep
from gateway.orgs import service
from gateway.settings import GatewaySettings

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


@router.post(
    "/{org_id}/keys",
    status_code=status.HTTP_201_CREATED,
    response_model=KeyCreated,
    responses=error_responses(MalformedJSON, Unauthorized, NotFound, InvalidRequest, RateLimited),
)
async def create_admin_key(
    org_id: IdPath, body: AdminKeyCreate, request: Request, session: SessionDep, _operator: OperatorDep
) -> KeyCreated:
    """A new admin key for an org (operator key required): the way back in for an org that lost its keys. The
    answer holds the key itself; it is never shown again."""
    settings: GatewaySettings = request.app.state.settings
    return await service.issue_admin_key(session, org_id, body, settings.max_keys_per_org)
