from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import select

from automl_common.db import Repository
from inference_svc.tables import DailyTokens


class TokenRepository(Repository[DailyTokens]):
    model = DailyTokens

    async def days_of_org(self, org_id: str, first: date, last: date) -> Sequence[DailyTokens]:
        statement = (
            select(DailyTokens)
            .where(DailyTokens.org_id == org_id, DailyTokens.day >= first, DailyTokens.day <= last)
            .order_by(DailyTokens.day, DailyTokens.deployment_id, DailyTokens.key_id)
        )
        return (await self.session.scalars(statement)).all()
