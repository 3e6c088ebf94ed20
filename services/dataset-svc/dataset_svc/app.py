"""The dataset-svc app factory."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from automl_common.app import ServiceSpec, create_service_app
from automl_common.limits import BodyLimit
from automl_common.quotas import OrgSlots
from automl_common.ssrf import GuardedFetcher, UrlPolicy
from automl_common.storage import ObjectStore
from dataset_svc.datasets.export import ExportsBusy
from dataset_svc.datasets.router import internal_router as datasets_internal_router
from dataset_svc.datasets.router import router as datasets_router
from dataset_svc.datasets.worker import Ingestor
from dataset_svc.db import VERSION_TABLE
from dataset_svc.images.router import router as images_router
from dataset_svc.images.service import ImageIngestor
from dataset_svc.rows.router import router as rows_router
from dataset_svc.settings import DatasetSettings

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "alembic"


def create_app(
    settings: DatasetSettings | None = None, *, store: ObjectStore | None = None, url_policy: UrlPolicy | None = None
) -> FastAPI:
    """``url_policy`` overrides which addresses image URLs may reach (tests); settings decide otherwise."""
    settings = settings or DatasetSettings()
    policy = url_policy or UrlPolicy(allow_private=settings.allow_private_image_urls)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        fetcher = GuardedFetcher(policy, timeout_s=settings.image_fetch_timeout_s, max_bytes=settings.image_max_bytes)
        images = ImageIngestor(app.state.database, app.state.store, settings, fetcher)
        ingestor = Ingestor(app.state.database, app.state.store, settings, images)
        app.state.ingestor = ingestor
        app.state.export_slots = OrgSlots(
            settings.max_exports_per_org, error=ExportsBusy, what="exports being read", setting="max_exports_per_org"
        )
        await ingestor.start()
        try:
            yield
        finally:
            await ingestor.stop()
            await fetcher.aclose()

    spec = ServiceSpec(
        title="AutoML dataset-svc",
        migrations_dir=MIGRATIONS_DIR,
        version_table=VERSION_TABLE,
        routers=[datasets_router, datasets_internal_router, rows_router, images_router],
        body_limits=[BodyLimit("POST", re.compile(r"/v1/datasets/?"), settings.max_upload_bytes + 1024 * 1024)],
        lifespan=lifespan,
    )
    return create_service_app(spec, settings, store=store)
