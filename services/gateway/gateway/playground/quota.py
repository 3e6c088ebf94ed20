"""The playground's free quota per org and model, counted in the gateway's database with single atomic
statements: a conditional increment cannot overspend, however many requests race for the last query."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from automl_common.db import upsert_insert
from gateway.models import PlaygroundUsage


async def take(session: AsyncSession, org_id: str, model_id: str, quota: int) -> int | None:
    """Use one query of the quota; the queries left after it, or None when none were left."""
    await session.execute(
        upsert_insert(session, PlaygroundUsage)
        .values(org_id=org_id, model_id=model_id, used=0)
        .on_conflict_do_nothing()
    )
    used = (
        await session.execute(
            update(PlaygroundUsage)
            .where(PlaygroundUsage.org_id == org_id, PlaygroundUsage.model_id == model_id, PlaygroundUsage.used < quota)
            .values(used=PlaygroundUsage.used + 1)
            .returning(PlaygroundUsage.used)
        )
    ).scalar()
    return None if used is None else quota - used


async def give_back(session: AsyncSession, org_id: str, model_id: str, quota: int) -> int:
    """Return a query that was not answered (the model failed, or the input was refused)."""
    used = (
        await session.execute(
            update(PlaygroundUsage)
            .where(PlaygroundUsage.org_id == org_id, PlaygroundUsage.model_id == model_id, PlaygroundUsage.used > 0)
            .values(used=PlaygroundUsage.used - 1)
            .returning(PlaygroundUsage.used)
        )
    ).scalar()
    return quota - (used or 0)
