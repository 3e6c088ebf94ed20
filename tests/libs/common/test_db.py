"""The session dependency commits when the endpoint succeeds and rolls back when it raises, on both
databases; nothing half-written survives an error."""

from __future__ import annotations

import httpx
from fastapi import APIRouter
from sqlalchemy import String, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from automl_common.app import ServiceSpec, create_service_app
from automl_common.db import Database
from automl_common.deps import SessionDep
from automl_common.errors import Conflict
from automl_common.storage import FilesystemStore
from tests.conftest import service_env
from tests.support.echo import EchoSettings


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "items"
    id: Mapped[str] = mapped_column(String(20), primary_key=True)


router = APIRouter()


@router.post("/v1/items/{item_id}")
async def add_item(item_id: str, session: SessionDep, fail: bool = False) -> dict[str, str]:
    session.add(Item(id=item_id))
    await session.flush()
    if fail:
        raise Conflict("refused after writing, on purpose")
    return {"id": item_id}


async def count(database: Database) -> int:
    async with database.sessionmaker() as session:
        return int((await session.execute(select(func.count()).select_from(Item))).scalar_one())


async def test_commit_on_success_rollback_on_error(tmp_path, database_url):
    settings = EchoSettings(**service_env(tmp_path, database_url))
    app = create_service_app(
        ServiceSpec(title="db-test", migrations_dir=None, routers=[router]),
        settings,
        store=FilesystemStore(tmp_path / "objects"),
    )
    async with app.router.lifespan_context(app):
        database: Database = app.state.database
        async with database.engine.begin() as connection:
            await connection.run_sync(Base.metadata.create_all)
        headers = {"X-Internal-Token": settings.resolved_internal_token(), "X-Org-Id": "org_1"}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://svc", headers=headers) as client:
            assert (await client.post("/v1/items/a")).status_code == 200
            failed = await client.post("/v1/items/b", params={"fail": "true"})
            assert failed.status_code == 409
            assert failed.json()["error"] == "Conflict"
        assert await count(database) == 1
        async with database.engine.begin() as connection:
            await connection.run_sync(Base.metadata.drop_all)
