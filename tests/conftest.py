"""Fixtures shared by the whole suite: real Postgres and SQLite databases, a real SeaweedFS S3 server,
the two object stores, and a gateway factory."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from automl_common.storage import FilesystemStore, ObjectStore, S3Store
from tests.support import postgres
from tests.support.api import INTERNAL_TOKEN, OPERATOR_KEY
from tests.support.seaweedfs import S3Server, start_seaweedfs, stop_seaweedfs

# No model hub is reachable from the tests (nor may one be): fail fast instead of waiting on the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    server = start_seaweedfs(tmp_path_factory.mktemp("seaweedfs"))
    try:
        yield server
    finally:
        stop_seaweedfs(server.process)


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database: a SQLite file, or a fresh database on the Postgres server."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
        return
    url = await postgres.create_database()
    try:
        yield url
    finally:
        await postgres.drop_database(url)


def s3_store(server: S3Server, bucket: str | None = None, **kwargs: Any) -> S3Store:
    return S3Store(
        bucket or f"test-{uuid.uuid4().hex[:12]}",
        endpoint_url=server.endpoint_url,
        access_key_id=server.access_key_id,
        secret_access_key=server.secret_access_key,
        **kwargs,
    )


@pytest.fixture(params=["filesystem", "s3"])
async def object_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ObjectStore]:
    if request.param == "filesystem":
        yield FilesystemStore(tmp_path / "objects")
        return
    store = s3_store(request.getfixturevalue("seaweedfs"))
    await store.ensure_bucket()
    try:
        yield store
    finally:
        await store.delete_prefix("")
        await store.close()


def service_env(tmp_path: Path, database_url: str, **overrides: Any) -> dict[str, Any]:
    """Settings every service under test gets: its own data dir and database, fixed secrets, no log setup."""
    return {
        "data_dir": tmp_path / "data",
        "database_url": database_url,
        "internal_token": INTERNAL_TOKEN,
        "configure_logging": False,
        **overrides,
    }


GatewayFactory = Callable[..., Any]


@pytest.fixture
async def gateway_factory(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """Start gateways in-process (lifespan entered) and hand back httpx clients bound to them."""
    from gateway.app import create_app
    from gateway.settings import GatewaySettings

    stack: list[Any] = []

    async def start(database_url: str, **overrides: Any) -> httpx.AsyncClient:
        settings = GatewaySettings(**service_env(tmp_path, database_url, operator_key=OPERATOR_KEY, **overrides))
        app = create_app(settings)
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway")
        client.app = app  # type: ignore[attr-defined]
        stack.append((lifespan, client))
        return client

    yield start
    for lifespan, client in reversed(stack):
        await client.aclose()
        await lifespan.__aexit__(None, None, None)
