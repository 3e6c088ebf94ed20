from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, update

from automl_common.db import Repository
from inference_svc.tables import BatchPredictionRow


class BatchRepository(Repository[BatchPredictionRow]):
    model = BatchPredictionRow

    async def page_for_org(
        self, org_id: str, *, limit: int, after: str | None
    ) -> tuple[Sequence[BatchPredictionRow], str | None]:
        statement = select(BatchPredictionRow).where(BatchPredictionRow.org_id == org_id)
        return await self.page(statement, limit=limit, after=after)

    async def count_active(self, org_id: str) -> int:
        statement = select(func.count()).where(
            BatchPredictionRow.org_id == org_id, BatchPredictionRow.status.in_(("queued", "running"))
        )
        return int((await self.session.execute(statement)).scalar_one())

    async def unfinished_ids(self) -> list[str]:
        statement = select(BatchPredictionRow.id).where(BatchPredictionRow.status.in_(("queued", "running")))
        return list((await self.session.scalars(statement)).all())

    async def set_fields(self, batch_id: str, **values: Any) -> None:
        """Write ``values`` to the row without reading it first (progress as it goes, the outcome)."""
        statement = update(BatchPredictionRow).where(BatchPredictionRow.id == batch_id).values(**values)
        await self.session.execute(statement)
