from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import select

from automl_common.db import Repository
from gateway.models import DailyUsage


class UsageRepository(Repository[DailyUsage]):
    model = DailyUsage

    async def days_of_org(self, org_id: str, first: date, last: date) -> Sequence[DailyUsage]:
        statement = (
            select(DailyUsage)
            .where(DailyUsage.org_id == org_id, DailyUsage.day >= first, DailyUsage.day <= last)
            .order_by(DailyUsage.day, DailyUsage.deployment_id, DailyUsage.key_id)
        )
        return (await self.session.scalars(statement)).all()
