"""FastAPI dependencies every service uses, as ``Annotated`` aliases named for what they give."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Query, Request
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from automl_common.db.engine import Database
from automl_common.settings import ServiceSettings
from automl_common.storage.base import ObjectStore

MAX_PAGE_SIZE = 500


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    database: Database = request.app.state.database
    async with database.session() as session:
        yield session


def _store(request: Request) -> ObjectStore:
    store: ObjectStore = request.app.state.store
    return store


def _settings(request: Request) -> ServiceSettings:
    settings: ServiceSettings = request.app.state.settings
    return settings


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
StoreDep = Annotated[ObjectStore, Depends(_store)]
SettingsDep = Annotated[ServiceSettings, Depends(_settings)]
PageDep = Annotated[PageParams, Depends(_page_params)]
