from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, select, update

from automl_common.db import Repository, upsert_insert
from automl_common.db.base import utcnow
from trainer_svc.tables import ModelEventRow, ModelReference, TrainingModel


class ModelRepository(Repository[TrainingModel]):
    model = TrainingModel

    async def page_for_org(
        self, org_id: str, *, limit: int, after: str | None
    ) -> tuple[Sequence[TrainingModel], str | None]:
        return await self.page(select(TrainingModel).where(TrainingModel.org_id == org_id), limit=limit, after=after)

    async def deployments_of(self, model_id: str) -> Sequence[str]:
        statement = select(ModelReference.deployment_id).where(ModelReference.model_id == model_id)
        return (await self.session.execute(statement)).scalars().all()

    async def add_reference(self, model_id: str, deployment_id: str) -> None:
        """Idempotent: a reference that exists (or is added concurrently) is what was asked."""
        await self.session.execute(
            upsert_insert(self.session, ModelReference)
            .values(model_id=model_id, deployment_id=deployment_id, created_at=utcnow())
            .on_conflict_do_nothing()
        )

    async def remove_reference(self, model_id: str, deployment_id: str) -> None:
        await self.session.execute(
            delete(ModelReference).where(
                ModelReference.model_id == model_id, ModelReference.deployment_id == deployment_id
            )
        )

    async def count_active(self, org_id: str) -> int:
        statement = select(func.count()).where(
            TrainingModel.org_id == org_id, TrainingModel.status.in_(("queued", "running"))
        )
        return int((await self.session.execute(statement)).scalar_one())

    async def jobs_held_by_org(self) -> dict[str, int]:
        """Per org, its runs that hold a job (submitted, running, or being cancelled)."""
        statement = (
            select(TrainingModel.org_id, func.count())
            .where(TrainingModel.job_handle.is_not(None))
            .group_by(TrainingModel.org_id)
        )
        return {org_id: int(count) for org_id, count in (await self.session.execute(statement)).all()}

    async def count_by_status(self) -> dict[str, int]:
        statement = select(TrainingModel.status, func.count()).group_by(TrainingModel.status)
        return {status: int(count) for status, count in (await self.session.execute(statement)).all()}

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
