"""The statements on idempotency records: each is one short transaction of its own, made by the middleware
around the request it guards (claim, heartbeat, finish, forget), and the hourly purge."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, update

from automl_common.db import Repository, upsert_insert, utcnow
from gateway.models import IdempotencyRecord


class IdempotencyRepository(Repository[IdempotencyRecord]):
    model = IdempotencyRecord

    async def claim(self, org_id: str, key: str, method: str, path: str, now: datetime) -> bool:
        """An in-progress record for (org, key); False if one exists already."""
        statement = upsert_insert(self.session, IdempotencyRecord).values(
            org_id=org_id, key=key, method=method, path=path, state="in_progress", created_at=now, updated_at=now
        )
        result = await self.session.execute(statement.on_conflict_do_nothing())
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def find(self, org_id: str, key: str) -> IdempotencyRecord | None:
        found: IdempotencyRecord | None = await self.session.get(IdempotencyRecord, (org_id, key))
        return found

    async def delete_if_unchanged(self, org_id: str, key: str, updated_at: datetime) -> None:
        """Replaced only if still the record just read (another retry may be taking it over too)."""
        await self.session.execute(
            delete(IdempotencyRecord).where(
                IdempotencyRecord.org_id == org_id,
                IdempotencyRecord.key == key,
                IdempotencyRecord.updated_at == updated_at,
            )
        )

    async def finish(self, org_id: str, key: str, **answer: Any) -> None:
        await self.session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.org_id == org_id, IdempotencyRecord.key == key)
            .values(state="done", updated_at=utcnow(), **answer)
        )

    async def touch(self, org_id: str, key: str) -> None:
        await self.session.execute(
            update(IdempotencyRecord)
            .where(
                IdempotencyRecord.org_id == org_id,
                IdempotencyRecord.key == key,
                IdempotencyRecord.state == "in_progress",
            )
            .values(updated_at=utcnow())
        )

    async def forget_in_progress(self, org_id: str, key: str) -> None:
        await self.session.execute(
            delete(IdempotencyRecord).where(
                IdempotencyRecord.org_id == org_id,
                IdempotencyRecord.key == key,
                IdempotencyRecord.state == "in_progress",
            )
        )

    async def purge_older_than(self, cutoff: datetime) -> int:
        result = await self.session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < cutoff))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
