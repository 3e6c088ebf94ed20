from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from automl_common.db import Repository
from inference_svc.tables import DeploymentRow


class DeploymentRepository(Repository[DeploymentRow]):
    model = DeploymentRow

    async def page_for_org(
        self, org_id: str, *, limit: int, after: str | None
    ) -> tuple[Sequence[DeploymentRow], str | None]:
        return await self.page(select(DeploymentRow).where(DeploymentRow.org_id == org_id), limit=limit, after=after)
