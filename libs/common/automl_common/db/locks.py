"""Serialising a check-then-insert per org (quotas: count what the org has, refuse or insert), so that two
concurrent creates cannot both see room for one more.

Postgres: a transaction-scoped advisory lock on (purpose, org), released when the session commits or rolls
back. SQLite: a no-op write on the table, which takes the database's write lock for the rest of the
transaction (SQLite has one writer at a time), so the second create waits and then counts the first."""

from __future__ import annotations

import hashlib

from sqlalchemy import Table, false, text, update
from sqlalchemy.ext.asyncio import AsyncSession


def _lock_key(purpose: str, org_id: str) -> int:
    digest = hashlib.sha256(f"{purpose}:{org_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


async def lock_org(session: AsyncSession, table: Table, org_id: str, purpose: str | None = None) -> None:
    """Hold, until this transaction ends, the lock that every quota check on ``table`` for ``org_id`` takes."""
    if session.get_bind().dialect.name == "postgresql":
        key = _lock_key(purpose or table.name, org_id)
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
        return
    column = next(iter(table.primary_key.columns))
    await session.execute(update(table).where(false()).values({column.name: column}))
