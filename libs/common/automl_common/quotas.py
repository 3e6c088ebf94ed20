"""Per-org quotas: what one tenant may hold at once (deployments, replicas, trainings, tasks, snapshot builds,
keys, stored bytes), each a setting. A create takes the org's lock for that table first (``lock_org``), counts,
and refuses with 429 ``OrgQuotaExceeded`` naming the quota and its setting; concurrent creates cannot both
squeeze under the limit."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import cast

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase

from automl_common.db import lock_org
from automl_common.errors import RateLimited


class OrgQuotaExceeded(RateLimited):
    pass


async def enforce_org_quota(
    session: AsyncSession,
    model: type[DeclarativeBase],
    org_id: str,
    *,
    used: Callable[[], Awaitable[int]],
    adding: int,
    limit: int,
    what: str,
    setting: str,
) -> None:
    """Raise ``OrgQuotaExceeded`` unless what the org ``used`` (a repository's count or sum, read under the
    lock) plus ``adding`` stays within ``limit``. The lock is held until the caller's transaction ends: insert
    in the same transaction."""
    await lock_org(session, cast(Table, model.__table__), org_id, f"quota:{what}")
    current = await used()
    if current + adding > limit:
        raise OrgQuotaExceeded(
            f"{what}: the org has {current} and this would add {adding}; the limit is {limit} "
            f"(setting {setting}). Free some first, or ask the operator for a higher limit"
        )


class OrgSlots:
    """At most ``limit`` of one org's long-running calls at once in this process (exports streaming, models
    being exported): the next is refused at once with ``error`` (a 429 naming the setting), never queued behind
    the org's own; what other orgs run is untouched."""

    def __init__(self, limit: int, *, error: type[RateLimited], what: str, setting: str) -> None:
        self.limit = limit
        self.error = error
        self.what = what
        self.setting = setting
        self._held: Counter[str] = Counter()

    def take(self, org_id: str) -> None:
        if self._held[org_id] >= self.limit:
            raise self.error(
                f"the org has {self._held[org_id]} {self.what} at once, the most this allows ({self.setting} "
                f"{self.limit}); retry once one is done",
                headers={"Retry-After": "30"},
            )
        self._held[org_id] += 1

    def give_back(self, org_id: str) -> None:
        self._held[org_id] -= 1
        if self._held[org_id] <= 0:
            del self._held[org_id]

    async def held_while(self, org_id: str, chunks: AsyncIterator[bytes]) -> AsyncGenerator[bytes]:
        """``chunks`` with the org's slot (taken before) given back when they end, or the reader goes away."""
        try:
            async for chunk in chunks:
                yield chunk
        finally:
            self.give_back(org_id)
