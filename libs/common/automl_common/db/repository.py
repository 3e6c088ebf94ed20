"""The repository base: every query lives in a repository; services never build SQL themselves."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Generic, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase

ModelT = TypeVar("ModelT", bound=DeclarativeBase)


class Repository(Generic[ModelT]):
    model: ClassVar[type[Any]]

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, entity_id: str) -> ModelT | None:
        result: ModelT | None = await self.session.get(self.model, entity_id)
        return result

    async def get_for_update(self, entity_id: str) -> ModelT | None:
        """The entity, its row locked until the transaction ends (on Postgres; SQLite has one writer)."""
        result: ModelT | None = await self.session.get(self.model, entity_id, with_for_update=True)
        return result

    async def get_in_org(self, org_id: str, entity_id: str) -> ModelT | None:
        """The entity if it belongs to ``org_id``; another org's entity is indistinguishable from none."""
        statement = select(self.model).where(self.model.id == entity_id, self.model.org_id == org_id)
        entity: ModelT | None = (await self.session.execute(statement)).scalar_one_or_none()
        return entity

    async def add(self, entity: ModelT) -> ModelT:
        self.session.add(entity)
        await self.session.flush()
        return entity

    async def flush(self) -> None:
        """Write what was changed now, so that a constraint it breaks is an error here, not at the commit."""
        await self.session.flush()

    async def refresh(self, entity: Any) -> None:
        """Read ``entity``'s row again (columns the database computed or another statement changed)."""
        await self.session.refresh(entity)

    async def merge(self, entity: ModelT) -> ModelT:
        """``entity`` (read in another session) attached to this one, its row updated from it on flush."""
        merged: ModelT = await self.session.merge(entity)
        return merged

    async def delete(self, entity: ModelT) -> None:
        await self.session.delete(entity)
        await self.session.flush()

    async def page(
        self, statement: Select[Any], *, limit: int, after: str | None
    ) -> tuple[Sequence[ModelT], str | None]:
        """One page of ``statement`` ordered by id (ids are time-ordered), and the cursor of the next."""
        if after is not None:
            statement = statement.where(self.model.id > after)
        rows = (await self.session.execute(statement.order_by(self.model.id).limit(limit + 1))).scalars().all()
        if len(rows) > limit:
            return rows[:limit], rows[limit - 1].id
        return rows, None
