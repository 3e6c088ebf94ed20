"""Per-org quotas: what one tenant may hold at once (deployments, replicas, trainings, tasks, snapshot builds,
keys, stored bytes), each a setting. A create takes the org's lock for that table first (``lock_org``), counts,
and refuses with 429 ``OrgQuotaExceeded`` naming the quota and its setting; concurrent creates cannot both
squeeze under the limit."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
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
