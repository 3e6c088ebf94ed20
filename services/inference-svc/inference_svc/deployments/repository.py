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

    async def in_status(self, *statuses: str) -> Sequence[DeploymentRow]:
        return (await self.session.scalars(select(DeploymentRow).where(DeploymentRow.status.in_(statuses)))).all()

    async def shared_scaling(self, app_name: str, excluding: str | None = None) -> tuple[int, int]:
        """The replicas a shared app is to have: the largest min and max its live deployments ask for ((0, 0)
        when none is left)."""
        statement = select(DeploymentRow.min_replicas, DeploymentRow.max_replicas).where(
            DeploymentRow.serve_app == app_name, DeploymentRow.status.in_(("deploying", "ready"))
        )
        if excluding is not None:
            statement = statement.where(DeploymentRow.id != excluding)
        rows = (await self.session.execute(statement)).all()
        return (max(row[0] for row in rows), max(row[1] for row in rows)) if rows else (0, 0)
