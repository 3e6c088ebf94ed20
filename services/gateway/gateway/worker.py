"""The gateway's periodic clean-up, every hour: idempotent answers older than their TTL, and signed-out console
sessions past the time they would have expired."""

from __future__ import annotations

import logging
from datetime import timedelta

from automl_common.db import Database, utcnow
from automl_common.worker import BackgroundWorker
from gateway.console.repository import EndedSessionRepository
from gateway.idempotency.repository import IdempotencyRepository

logger = logging.getLogger("automl.gateway")


class Purger(BackgroundWorker):
    name = "purge"
    tick_interval_s = 3600.0

    def __init__(self, database: Database, idempotency_ttl_s: float) -> None:
        super().__init__(database)
        self.idempotency_ttl_s = idempotency_ttl_s

    async def tick(self) -> None:
        now = utcnow()
        async with self.transaction() as session:
            answers = await IdempotencyRepository(session).purge_older_than(
                now - timedelta(seconds=self.idempotency_ttl_s)
            )
            sessions = await EndedSessionRepository(session).purge(now)
        if answers or sessions:
            logger.info("purged %d idempotent answers and %d ended console sessions", answers, sessions)
