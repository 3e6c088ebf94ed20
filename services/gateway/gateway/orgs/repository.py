from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from automl_common.db import Repository
from gateway.models import Org


class OrgRepository(Repository[Org]):
    model = Org

    async def get_by_name(self, name: str) -> Org | None:
        return (await self.session.execute(select(Org).where(Org.name == name))).scalar_one_or_none()

    async def page_all(self, *, limit: int, after: str | None) -> tuple[Sequence[Org], str | None]:
        return await self.page(select(Org), limit=limit, after=after)
