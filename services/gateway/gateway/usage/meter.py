"""Usage of deployments per day, key and deployment: requests, errors and latency. Counted in memory on the
request path (no database write per call) and added to the database in increments every few seconds, so
several gateway replicas add up instead of overwriting each other."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import func

from automl_common.db import Database, upsert_insert
from automl_proto.ids import ID_PATTERN
from gateway.models import DailyUsage

logger = logging.getLogger("automl.gateway.usage")

# The calls that are metered: predictions and async tasks of one deployment, named by a well-formed id (a
# malformed one is refused before any deployment is reached, and is nobody's usage).
METERED = re.compile(
    r"^/v1/deployments/(?P<deployment_id>" + ID_PATTERN.removeprefix("^").removesuffix("$") + r")/(?:predict|tasks)$"
)

UsageKey = tuple[date, str, str, str]  # day, org, deployment, key


@dataclass
class _Counts:
    requests: int = 0
    errors: int = 0
    latency_ms_sum: float = 0.0
    latency_ms_max: float = 0.0


class UsageMeter:
    def __init__(self, database: Database, flush_interval_s: float) -> None:
        self.database = database
        self.flush_interval_s = flush_interval_s
        self._pending: dict[UsageKey, _Counts] = {}
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    def record(
        self, org_id: str, deployment_id: str, key_id: str, status: int, latency_ms: float, count: int = 1
    ) -> None:
        """``count`` predictions (a batch's rows) in one call; ``deployment_id`` may be a model's id (the
        playground and batch predictions straight from a model)."""
        key = (datetime.now(UTC).date(), org_id, deployment_id, key_id)
        counts = self._pending.setdefault(key, _Counts())
        counts.requests += count
        counts.errors += count if status >= 400 else 0
        counts.latency_ms_sum += latency_ms
        counts.latency_ms_max = max(counts.latency_ms_max, latency_ms)

    def start(self) -> None:
        self._task = asyncio.create_task(self._flush_forever(), name="usage-flush")

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
                logger.exception("writing usage failed; kept for the next flush")

    async def flush(self) -> None:
        async with self._lock:
            pending, self._pending = self._pending, {}
            if not pending:
                return
            try:
                async with self.database.session() as session:
                    postgres = session.get_bind().dialect.name == "postgresql"
                    greatest = func.greatest if postgres else func.max  # SQLite's max of two values
                    for (day, org_id, deployment_id, key_id), counts in sorted(pending.items()):
                        statement = upsert_insert(session, DailyUsage).values(
                            day=day,
                            org_id=org_id,
                            deployment_id=deployment_id,
                            key_id=key_id,
                            requests=counts.requests,
                            errors=counts.errors,
                            latency_ms_sum=counts.latency_ms_sum,
                            latency_ms_max=counts.latency_ms_max,
                        )
                        table = DailyUsage.__table__
                        await session.execute(
                            statement.on_conflict_do_update(
                                index_elements=["day", "org_id", "deployment_id", "key_id"],
                                set_={
                                    "requests": table.c.requests + statement.excluded.requests,
                                    "errors": table.c.errors + statement.excluded.errors,
                                    "latency_ms_sum": table.c.latency_ms_sum + statement.excluded.latency_ms_sum,
                                    "latency_ms_max": greatest(
                                        table.c.latency_ms_max, statement.excluded.latency_ms_max
                                    ),
                                },
                            )
                        )
            except BaseException:
                for key, counts in pending.items():  # keep them for the next try
                    merged = self._pending.setdefault(key, _Counts())
                    merged.requests += counts.requests
                    merged.errors += counts.errors
                    merged.latency_ms_sum += counts.latency_ms_sum
                    merged.latency_ms_max = max(merged.latency_ms_max, counts.latency_ms_max)
                raise
