"""The snapshot-svc app factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pyarrow as pa
from fastapi import FastAPI

from automl_common.app import ServiceSpec, create_service_app
from automl_common.http import InternalClient
from automl_common.storage import ObjectStore
from snapshot_svc.db import VERSION_TABLE
from snapshot_svc.settings import SnapshotSettings
from snapshot_svc.snapshots.router import internal_router, router
from snapshot_svc.snapshots.worker import SnapshotBuilder

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "alembic"


def create_app(settings: SnapshotSettings | None = None, *, store: ObjectStore | None = None) -> FastAPI:
    settings = settings or SnapshotSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Arrow's default allocator (mimalloc) keeps freed memory for reuse; a service that builds a large
        # snapshot now and then should give it back, so Arrow allocates with the C library's malloc.
        pa.set_memory_pool(pa.system_memory_pool())
        datasets = InternalClient("dataset-svc", settings.dataset_url, settings.resolved_internal_token())
        builder = SnapshotBuilder(app.state.database, app.state.store, settings, datasets)
        app.state.datasets = datasets
        app.state.builder = builder
        await builder.start()
        try:
            yield
        finally:
            await builder.stop()
            await datasets.aclose()

    spec = ServiceSpec(
        title="AutoML snapshot-svc",
        migrations_dir=MIGRATIONS_DIR,
        version_table=VERSION_TABLE,
        routers=[router, internal_router],
        lifespan=lifespan,
    )
    return create_service_app(spec, settings, store=store)
