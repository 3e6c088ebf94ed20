from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from automl_common.db import utcnow
from automl_common.errors import Conflict, NotFound
from automl_common.ids import new_id
from automl_common.schemas import Page
from automl_proto.orgs import AdminKeyCreate, KeyCreated, Org, OrgCreate, OrgCreated
from gateway.keys.service import issue_key
from gateway.models import Org as OrgRow
from gateway.orgs.repository import OrgRepository


class OrgNameTaken(Conflict):
    pass


class OrgNotFound(NotFound):
    pass


def to_schema(row: OrgRow) -> Org:
    return Org(id=row.id, name=row.name, created_at=row.created_at)


async def create_org(session: AsyncSession, request: OrgCreate) -> OrgCreated:
    """Create an org and its first admin key (the only time that key is shown)."""
    repository = OrgRepository(session)
    if await repository.get_by_name(request.name) is not None:
        raise OrgNameTaken(f"an org named {request.name!r} already exists")
    row = OrgRow(id=new_id("org"), name=request.name, created_at=utcnow())
    try:
        await repository.add(row)
    except IntegrityError as error:  # a concurrent create of the same name won the race
        raise OrgNameTaken(f"an org named {request.name!r} already exists") from error
    key = await issue_key(session, row.id, "admin", "admin")
    return OrgCreated(**to_schema(row).model_dump(), admin_key=key.key)


async def get_org(session: AsyncSession, org_id: str) -> Org:
    row = await OrgRepository(session).get(org_id)
    if row is None:
        raise OrgNotFound(f"org {org_id!r} not found")
    return to_schema(row)


async def list_orgs(session: AsyncSession, *, limit: int, after: str | None) -> Page[Org]:
    rows, next_cursor = await OrgRepository(session).page_all(limit=limit, after=after)
    return Page[Org](items=[to_schema(row) for row in rows], next=next_cursor)


async def issue_admin_key(session: AsyncSession, org_id: str, request: AdminKeyCreate, max_keys: int) -> KeyCreated:
    """The operator's way back in for an org without a working admin key."""
    await get_org(session, org_id)
    return await issue_key(session, org_id, request.name, "admin", expires_in_s=request.expires_in_s, max_keys=max_keys)
