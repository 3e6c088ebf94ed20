"""FastAPI dependencies every service uses, as ``Annotated`` aliases named for what they give."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Query, Request
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from automl_common.db.engine import Database
from automl_common.settings import ServiceSettings
from automl_common.storage.base import ObjectStore

MAX_PAGE_SIZE = 500
T = TypeVar("T")


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    database: Database = request.app.state.database
    async with database.session() as session:
        yield session


def from_state(name: str, kind: type[T]) -> Callable[[Request], T]:
    """A dependency giving ``app.state.<name>`` (set up in the lifespan), typed as ``kind``."""

    def dependency(request: Request) -> T:
        value = getattr(request.app.state, name)
        assert isinstance(value, kind), f"app.state.{name} is {type(value).__name__}, not {kind.__name__}"
        return value

    return dependency


class PageParams(BaseModel):
    limit: int
    after: str | None


def _page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="page size")] = 50,
    after: Annotated[str | None, Query(max_length=128, description="cursor from the previous page")] = None,
) -> PageParams:
    return PageParams(limit=limit, after=after)


# scope="function": the session commits when the endpoint returns, *before* the response is sent, so a
# failed commit becomes an error response instead of a success the database never saw.
SessionDep = Annotated[AsyncSession, Depends(_session, scope="function")]
StoreDep = Annotated[ObjectStore, Depends(from_state("store", ObjectStore))]
SettingsDep = Annotated[ServiceSettings, Depends(from_state("settings", ServiceSettings))]
PageDep = Annotated[PageParams, Depends(_page_params)]
