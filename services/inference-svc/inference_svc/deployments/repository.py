from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select

from automl_common.db import Repository
from inference_svc.tables import DeploymentRow


class DeploymentRepository(Repository[DeploymentRow]):
    model = DeploymentRow

    async def page_for_org(
        self, org_id: str, *, limit: int, after: str | None
    ) -> tuple[Sequence[DeploymentRow], str | None]:
        return await self.page(select(DeploymentRow).where(DeploymentRow.org_id == org_id), limit=limit, after=after)

    async def count_live(self, org_id: str) -> int:
        statement = select(func.count()).where(DeploymentRow.org_id == org_id, DeploymentRow.status != "deleting")
        return int((await self.session.execute(statement)).scalar_one())

    async def max_replicas_of_org(self, org_id: str, excluding: str | None = None) -> int:
        statement = select(func.coalesce(func.sum(DeploymentRow.max_replicas), 0)).where(
            DeploymentRow.org_id == org_id, DeploymentRow.status != "deleting"
        )
        if excluding is not None:
            statement = statement.where(DeploymentRow.id != excluding)
        return int((await self.session.execute(statement)).scalar_one())
