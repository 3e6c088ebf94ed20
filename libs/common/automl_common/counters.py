"""Counters kept in memory on the request path (no database write per call) and added to a table in increments
every few seconds, so that several replicas of a service add up instead of overwriting each other: the
gateway's calls per day, key and deployment, inference-svc's tokens."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from automl_common.db import Database
from automl_common.db.counters import add_increments
from automl_common.worker import BackgroundWorker


class IncrementalCounters(BackgroundWorker):
    """Rows of ``table`` keyed by its ``keys`` columns: ``sums`` columns are added to, ``maxima`` columns keep
    the largest value seen. Each tick (every ``flush_interval_s``) and the stop write what was counted."""

    def __init__(
        self,
        database: Database,
        table: Any,
        keys: Sequence[str],
        sums: Sequence[str],
        maxima: Sequence[str] = (),
        flush_interval_s: float = 5.0,
    ) -> None:
        super().__init__(database)
        self.name = f"flush-{table.name}"
        self.tick_interval_s = flush_interval_s
        self.table = table
        self.keys = tuple(keys)
        self.sums = tuple(sums)
        self.maxima = tuple(maxima)
        self._pending: dict[tuple[Any, ...], dict[str, float]] = {}
        self._lock = asyncio.Lock()

    def add(self, key: tuple[Any, ...], values: Mapping[str, float]) -> None:
        counts = self._pending.setdefault(key, dict.fromkeys(self.sums + self.maxima, 0))
        self._merge(counts, values)

    def _merge(self, counts: dict[str, float], values: Mapping[str, float]) -> None:
        for name in self.sums:
            counts[name] += values.get(name, 0)
        for name in self.maxima:
            counts[name] = max(counts[name], values.get(name, 0))

    async def tick(self) -> None:
        await self.flush()  # a failed write keeps what it had for the next one

    async def on_stop(self) -> None:
        await self.flush()

    async def flush(self) -> None:
        async with self._lock:
            pending, self._pending = self._pending, {}
            if not pending:
                return
            try:
                async with self.transaction() as session:
                    await add_increments(session, self.table, self.keys, self.sums, self.maxima, pending)
            except BaseException:
                for key, counts in pending.items():  # kept for the next try
                    self._merge(self._pending.setdefault(key, dict.fromkeys(self.sums + self.maxima, 0)), counts)
                raise
