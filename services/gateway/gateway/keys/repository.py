from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from automl_common.db import Repository
from gateway.models import ApiKey


class KeyRepository(Repository[ApiKey]):
    model = ApiKey

    async def get_by_lookup(self, lookup: str) -> ApiKey | None:
        statement = select(ApiKey).where(ApiKey.lookup == lookup)
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def page_for_org(self, org_id: str, *, limit: int, after: str | None) -> tuple[Sequence[ApiKey], str | None]:
        return await self.page(select(ApiKey).where(ApiKey.org_id == org_id), limit=limit, after=after)
