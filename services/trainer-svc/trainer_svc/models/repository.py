from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update

from automl_common.db import Repository
from automl_common.db.base import utcnow
from trainer_svc.tables import ModelEventRow, TrainingModel


class ModelRepository(Repository[TrainingModel]):
    model = TrainingModel

    async def page_for_org(
        self, org_id: str, *, limit: int, after: str | None
    ) -> tuple[Sequence[TrainingModel], str | None]:
        return await self.page(select(TrainingModel).where(TrainingModel.org_id == org_id), limit=limit, after=after)

    async def in_status(self, *statuses: str) -> Sequence[TrainingModel]:
        statement = select(TrainingModel).where(TrainingModel.status.in_(statuses)).order_by(TrainingModel.id)
        return (await self.session.execute(statement)).scalars().all()

    async def add_event(self, model_id: str, kind: str, message: str = "", data: dict[str, Any] | None = None) -> int:
        """Append an event with the next sequence number (taken atomically from the model row)."""
        seq = (
            await self.session.execute(
                update(TrainingModel)
                .where(TrainingModel.id == model_id)
                .values(event_seq=TrainingModel.event_seq + 1)
                .returning(TrainingModel.event_seq)
            )
        ).scalar_one()
        self.session.add(
            ModelEventRow(model_id=model_id, seq=seq, kind=kind, message=message, data=data or {}, created_at=utcnow())
        )
        await self.session.flush()
        return int(seq)

    async def events(self, model_id: str, *, after: int, limit: int) -> Sequence[ModelEventRow]:
        statement = (
            select(ModelEventRow)
            .where(ModelEventRow.model_id == model_id, ModelEventRow.seq > after)
            .order_by(ModelEventRow.seq)
            .limit(limit)
        )
        return (await self.session.execute(statement)).scalars().all()
