from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from automl_common.db import utcnow
from automl_common.errors import NotFound, RateLimited
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


async def create_key(session: AsyncSession, org_id: str, request: KeyCreate, max_keys: int) -> KeyCreated:
    return await issue_key(
        session,
        org_id,
        request.name,
        request.scope,
        request.deployment_id,
        expires_in_s=request.expires_in_s,
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
    """Revoke a key (idempotent). Other gateway replicas stop accepting it within the key cache TTL."""
    row = await KeyRepository(session).get_in_org(org_id, key_id)
    if row is None:
        raise KeyNotFound(f"key {key_id!r} not found")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        await session.flush()
    return to_schema(row)
