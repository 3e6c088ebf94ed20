"""The trainer-svc app factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from automl_common.app import ServiceSpec, create_service_app
from automl_common.environ import child_environment
from automl_common.http import InternalClient
from automl_common.storage import ObjectStore
from trainer_svc.base_models import service as base_models
from trainer_svc.base_models.router import router as base_models_router
from trainer_svc.base_models.service import BaseModelImporter
from trainer_svc.db import VERSION_TABLE
from trainer_svc.jobs.backend import JobBackend
from trainer_svc.jobs.local import LocalProcessBackend
from trainer_svc.jobs.worker import Dispatcher
from trainer_svc.metrics import TrainingMetrics
from trainer_svc.models.export import Exporter
from trainer_svc.models.router import internal_router, jobs_router, router
from trainer_svc.settings import TrainerSettings
from trainer_svc.worker.settings import worker_environment

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "alembic"


def local_backend(settings: TrainerSettings) -> LocalProcessBackend:
    # The worker runs over tenant data: it gets an allowlisted environment and its store settings, never the
    # internal token or the database URL; its job token comes in its spec.
    env = child_environment(
        worker_environment(
            settings,
            settings.resolved_cache_dir,
            settings.worker_threads,
            settings.checkpoint_every_steps,
            settings.checkpoint_every_s,
            settings.worker_device,
        )
    )
    return LocalProcessBackend(
        (settings.data_dir / "jobs").resolve(),
        python=settings.worker_python,
        env=env,
        max_concurrent=settings.max_concurrent_jobs,
        grace_s=settings.cancel_grace_s,
    )


def make_backend(settings: TrainerSettings) -> JobBackend:
    if settings.job_backend == "kubernetes":
        from trainer_svc.jobs.k8s import KubernetesBackend

        return KubernetesBackend(settings)
    return local_backend(settings)


def create_app(
    settings: TrainerSettings | None = None, *, store: ObjectStore | None = None, backend: JobBackend | None = None
) -> FastAPI:
    settings = settings or TrainerSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        snapshots = InternalClient("snapshot-svc", settings.snapshot_url, settings.resolved_internal_token())
        job_backend = backend or make_backend(settings)
        importer = BaseModelImporter(app.state.database, app.state.store)
        metrics = TrainingMetrics(app.state.metrics_registry)
        dispatcher = Dispatcher(app.state.database, job_backend, importer, snapshots, settings, metrics)
        app.state.snapshots = snapshots
        app.state.dispatcher = dispatcher
        app.state.exporter = Exporter(
            app.state.store,
            max_per_org=settings.max_exports_per_org,
            max_builds=settings.max_exports,
            timeout_s=settings.export_timeout_s,
        )
        async with app.state.database.session() as session:
            await base_models.sync_builtins(session)
        await dispatcher.start()
        try:
            yield
        finally:
            await dispatcher.stop()
            await job_backend.aclose()
            await snapshots.aclose()

    spec = ServiceSpec(
        title="AutoML trainer-svc",
        migrations_dir=MIGRATIONS_DIR,
        version_table=VERSION_TABLE,
        routers=[base_models_router, router, jobs_router, internal_router],
        lifespan=lifespan,
        open_prefixes=("/jobs/",),
    )
    return create_service_app(spec, settings, store=store)
