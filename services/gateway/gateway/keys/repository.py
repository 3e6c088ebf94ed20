from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import cast

from sqlalchemy import Table, func, or_, select

from automl_common.db import Repository, lock_org
from gateway.models import ApiKey


class KeyRepository(Repository[ApiKey]):
    model = ApiKey

    async def get_by_lookup(self, lookup: str) -> ApiKey | None:
        statement = select(ApiKey).where(ApiKey.lookup == lookup)
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def page_for_org(self, org_id: str, *, limit: int, after: str | None) -> tuple[Sequence[ApiKey], str | None]:
        return await self.page(select(ApiKey).where(ApiKey.org_id == org_id), limit=limit, after=after)

    async def lock_org(self, org_id: str) -> None:
        await lock_org(self.session, cast(Table, ApiKey.__table__), org_id)

    async def count_active(self, org_id: str, now: datetime) -> int:
        statement = select(func.count()).where(
            ApiKey.org_id == org_id,
            ApiKey.revoked_at.is_(None),
            or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > now),
        )
        return int((await self.session.execute(statement)).scalar_one())

    async def count_lasting_admins(self, org_id: str, except_id: str) -> int:
        """Admin keys of the org besides ``except_id`` that are neither revoked nor set to expire."""
        statement = select(func.count()).where(
            ApiKey.org_id == org_id,
            ApiKey.id != except_id,
            ApiKey.scope == "admin",
            ApiKey.revoked_at.is_(None),
            ApiKey.expires_at.is_(None),
        )
        return int((await self.session.execute(statement)).scalar_one())
