"""Counters kept in memory on the request path (no database write per call) and added to a table in increments
every few seconds, so that several replicas of a service add up instead of overwriting each other: the
gateway's calls per day, key and deployment, inference-svc's tokens."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import DeclarativeBase

from automl_common.db import Database, Repository, upsert_insert

logger = logging.getLogger("automl.counters")


class IncrementalCounters:
    """Rows of ``table`` keyed by its ``keys`` columns: ``sums`` columns are added to, ``maxima`` columns keep
    the largest value seen."""

    def __init__(
        self,
        database: Database,
        table: Any,
        keys: Sequence[str],
        sums: Sequence[str],
        maxima: Sequence[str] = (),
        flush_interval_s: float = 5.0,
    ) -> None:
        self.database = database
        self.table = table
        self.keys = tuple(keys)
        self.sums = tuple(sums)
        self.maxima = tuple(maxima)
        self.flush_interval_s = flush_interval_s
        self._pending: dict[tuple[Any, ...], dict[str, float]] = {}
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    def add(self, key: tuple[Any, ...], values: Mapping[str, float]) -> None:
        counts = self._pending.setdefault(key, dict.fromkeys(self.sums + self.maxima, 0))
        self._merge(counts, values)

    def _merge(self, counts: dict[str, float], values: Mapping[str, float]) -> None:
        for name in self.sums:
            counts[name] += values.get(name, 0)
        for name in self.maxima:
            counts[name] = max(counts[name], values.get(name, 0))

    def start(self) -> None:
        self._task = asyncio.create_task(self._flush_forever(), name=f"flush-{self.table.name}")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval_s)
            try:
                await self.flush()
            except Exception:
                logger.exception("writing %s failed; kept for the next flush", self.table.name)

    async def flush(self) -> None:
        async with self._lock:
            pending, self._pending = self._pending, {}
            if not pending:
                return
            try:
                async with self.database.session() as session:
                    postgres = session.get_bind().dialect.name == "postgresql"
                    greatest = func.greatest if postgres else func.max  # SQLite's max of two values
                    columns = self.table.c
                    for key, counts in sorted(pending.items()):
                        statement = upsert_insert(session, self.table).values(
                            dict(zip(self.keys, key, strict=True)) | counts
                        )
                        added = {name: columns[name] + statement.excluded[name] for name in self.sums}
                        kept = {name: greatest(columns[name], statement.excluded[name]) for name in self.maxima}
                        await session.execute(
                            statement.on_conflict_do_update(index_elements=list(self.keys), set_=added | kept)
                        )
            except BaseException:
                for key, counts in pending.items():  # kept for the next try
                    self._merge(self._pending.setdefault(key, dict.fromkeys(self.sums + self.maxima, 0)), counts)
                raise


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
