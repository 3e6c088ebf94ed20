"""The queries of counters kept in increments (``automl_common.counters``): add a batch of increments to a
table, read an org's rows per day."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase

from automl_common.db.repository import Repository
from automl_common.db.upsert import upsert_insert


async def add_increments(
    session: AsyncSession,
    table: Any,
    keys: Sequence[str],
    sums: Sequence[str],
    maxima: Sequence[str],
    pending: Mapping[tuple[Any, ...], Mapping[str, float]],
) -> None:
    """Each row keyed by ``keys`` gets its ``sums`` added to and its ``maxima`` raised (inserted when new), in
    one atomic upsert per row: several replicas add up instead of overwriting each other."""
    postgres = session.get_bind().dialect.name == "postgresql"
    greatest = func.greatest if postgres else func.max  # SQLite's max of two values
    columns = table.c
    for key, counts in sorted(pending.items()):
        statement = upsert_insert(session, table).values(dict(zip(keys, key, strict=True)) | dict(counts))
        added = {name: columns[name] + statement.excluded[name] for name in sums}
        kept = {name: greatest(columns[name], statement.excluded[name]) for name in maxima}
        await session.execute(statement.on_conflict_do_update(index_elements=list(keys), set_=added | kept))


DailyRow = TypeVar("DailyRow", bound=DeclarativeBase)


class DailyCountsRepository(Repository[DailyRow]):
    """Rows counted per day, org, deployment and key (``day``, ``org_id``, ``deployment_id``, ``key_id``)."""

    async def days_of_org(self, org_id: str, first: date, last: date) -> Sequence[DailyRow]:
        table = self.model
        statement = (
            select(table)
            .where(table.org_id == org_id, table.day >= first, table.day <= last)
            .order_by(table.day, table.deployment_id, table.key_id)
        )
        return (await self.session.scalars(statement)).all()
