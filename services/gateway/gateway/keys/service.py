from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from automl_common.db import utcnow
from automl_common.errors import Conflict, InvalidRequest, NotFound, RateLimited
from automl_common.ids import new_id
from automl_common.schemas import Page
from automl_proto.orgs import Key, KeyCreate, KeyCreated, KeyScope
from gateway.keys.repository import KeyRepository
from gateway.keys.tokens import display_prefix, generate_key
from gateway.models import ApiKey


class KeyNotFound(NotFound):
    pass


def to_schema(row: ApiKey) -> Key:
    return Key(
        id=row.id,
        name=row.name,
        scope=row.scope,
        deployment_id=row.deployment_id,
        prefix=display_prefix(row.lookup),
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        expires_at=row.expires_at,
    )


class KeyLimitReached(RateLimited):
    pass


async def issue_key(
    session: AsyncSession,
    org_id: str,
    name: str,
    scope: KeyScope,
    deployment_id: str | None = None,
    *,
    expires_in_s: int | None = None,
    max_keys: int | None = None,
) -> KeyCreated:
    repository = KeyRepository(session)
    if max_keys is not None:
        await repository.lock_org(org_id)
        active = await repository.count_active(org_id, utcnow())
        if active >= max_keys:
            raise KeyLimitReached(
                f"keys: the org has {active} active keys, the limit (max_keys_per_org) is {max_keys}; revoke one first"
            )
    new_key = generate_key()
    now = utcnow()
    row = ApiKey(
        id=new_id("key"),
        org_id=org_id,
        name=name,
        scope=scope,
        deployment_id=deployment_id,
        lookup=new_key.lookup,
        key_hash=new_key.key_hash,
        created_at=now,
        expires_at=now + timedelta(seconds=expires_in_s) if expires_in_s else None,
    )
    await repository.add(row)
    return KeyCreated(**to_schema(row).model_dump(), key=new_key.key)


class KeyOutlivesItsMaker(InvalidRequest):
    pass


class LastAdminKey(Conflict):
    pass


async def create_key(
    session: AsyncSession, org_id: str, request: KeyCreate, max_keys: int, maker_expires_at: datetime | None = None
) -> KeyCreated:
    """A key made by an expiring key expires no later than it (by default at the same moment): otherwise a
    key given out for an hour could mint one that works for ever."""
    expires_in_s = request.expires_in_s
    if maker_expires_at is not None:
        left = int((maker_expires_at - utcnow()).total_seconds())
        if expires_in_s is not None and expires_in_s > left:
            raise KeyOutlivesItsMaker(
                f"expires_in_s: {expires_in_s} s would outlive the key that makes it, which expires in {left} s"
            )
        expires_in_s = min(expires_in_s or left, left)
    return await issue_key(
        session,
        org_id,
        request.name,
        request.scope,
        request.deployment_id,
        expires_in_s=expires_in_s,
        max_keys=max_keys,
    )


async def get_key(session: AsyncSession, org_id: str, key_id: str) -> Key:
    row = await KeyRepository(session).get_in_org(org_id, key_id)
    if row is None:
        raise KeyNotFound(f"key {key_id!r} not found")
    return to_schema(row)


async def list_keys(session: AsyncSession, org_id: str, *, limit: int, after: str | None) -> Page[Key]:
    rows, next_cursor = await KeyRepository(session).page_for_org(org_id, limit=limit, after=after)
    return Page[Key](items=[to_schema(row) for row in rows], next=next_cursor)


async def revoke_key(session: AsyncSession, org_id: str, key_id: str) -> Key:
    """Revoke a key (idempotent). Other gateway replicas stop accepting it within the key cache TTL. The org's
    last admin key that does not expire stays: without one the org could never manage itself again."""
    repository = KeyRepository(session)
    row = await repository.get_in_org(org_id, key_id)
    if row is None:
        raise KeyNotFound(f"key {key_id!r} not found")
    if row.revoked_at is None:
        if row.scope == "admin" and row.expires_at is None:
            await repository.lock_org(org_id)  # two revokes of the last two admin keys: one waits, then sees it
            if await repository.count_lasting_admins(org_id, except_id=row.id) == 0:
                raise LastAdminKey(
                    f"key {key_id!r} is the org's last admin key that does not expire; create another admin key "
                    "first, then revoke this one"
                )
        row.revoked_at = utcnow()
        await repository.flush()
    return to_schema(row)
