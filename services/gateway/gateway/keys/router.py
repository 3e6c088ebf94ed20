from __future__ import annotations

from fastapi import APIRouter, status

from automl_common.deps import PageDep, SessionDep
from automl_common.errors import (
    BadGateway,
    Conflict,
    Forbidden,
    InvalidRequest,
    MalformedJSON,
    NotFound,
    RateLimited,
    Unauthorized,
    error_responses,
)
from automl_common.http import url_path
from automl_common.ids import IdPath
from automl_common.schemas import Page
from automl_proto.orgs import Key, KeyCreate, KeyCreated
from gateway.auth import AdminDep
from gateway.deps import AuthenticatorDep, GatewaySettingsDep, InferenceDep
from gateway.keys import service

router = APIRouter(prefix="/v1/keys", tags=["keys"])
_AUTH_ERRORS = (Unauthorized, Forbidden, RateLimited)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=KeyCreated,
    responses=error_responses(*_AUTH_ERRORS, MalformedJSON, InvalidRequest),
)
async def create_key(
    body: KeyCreate,
    session: SessionDep,
    principal: AdminDep,
    inference: InferenceDep,
    settings: GatewaySettingsDep,
) -> KeyCreated:
    """Create a key. The answer holds the key itself; it is never shown again. A deployment-scoped key must
    name a deployment of the org."""
    if body.scope == "deployment" and body.deployment_id is not None:
        found = await inference.request(
            "GET", url_path("/v1/deployments/{}", body.deployment_id), org_id=principal.org_id
        )
        if found.status_code == 404:
            raise InvalidRequest(f"deployment_id: deployment {body.deployment_id!r} not found in this org")
        if found.status_code >= 400:
            raise BadGateway(f"could not check deployment_id: inference-svc answered {found.status_code}")
    return await service.create_key(
        session, principal.org_id, body, settings.max_keys_per_org, maker_expires_at=principal.expires_at
    )


@router.get("", response_model=Page[Key], responses=error_responses(*_AUTH_ERRORS, InvalidRequest))
async def list_keys(session: SessionDep, principal: AdminDep, page: PageDep) -> Page[Key]:
    """The org's keys, without their secrets."""
    return await service.list_keys(session, principal.org_id, limit=page.limit, after=page.after)


@router.get("/{key_id}", response_model=Key, responses=error_responses(*_AUTH_ERRORS, NotFound))
async def get_key(key_id: IdPath, session: SessionDep, principal: AdminDep) -> Key:
    """One key of the org: its name, scope, prefix, expiry and whether it is revoked (never its secret)."""
    return await service.get_key(session, principal.org_id, key_id)


@router.delete("/{key_id}", response_model=Key, responses=error_responses(*_AUTH_ERRORS, NotFound, Conflict))
async def revoke_key(key_id: IdPath, session: SessionDep, principal: AdminDep, authenticator: AuthenticatorDep) -> Key:
    """Revoke a key; it stops working at once here, and within the key cache TTL on other replicas."""
    key = await service.revoke_key(session, principal.org_id, key_id)
    authenticator.forget_key(key_id)
    return key
