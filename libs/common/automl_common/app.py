"""The service app factory: middleware, error handlers, health, and a lifespan that owns the engine,
the migrations and the object store. Every service is built with it, so they all behave alike."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import APIRouter, FastAPI
from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector
from starlette.middleware import Middleware

from automl_common.auth import InternalAuthMiddleware
from automl_common.db import migrations
from automl_common.db.engine import Database
from automl_common.handlers import install_error_handlers
from automl_common.health import ReadinessCheck
from automl_common.health import router as health_router
from automl_common.limits import BodyLimit, BodyLimitMiddleware
from automl_common.logging import configure_logging
from automl_common.observability import HttpMetrics, ObservabilityMiddleware
from automl_common.openapi import install_openapi
from automl_common.paths import PathGuardMiddleware
from automl_common.settings import ServiceSettings
from automl_common.storage.base import ObjectStore
from automl_common.storage.factory import create_store

logger = logging.getLogger("automl.app")

ExtraLifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


@dataclass
class ServiceSpec:
    """What makes one service different from another."""

    title: str
    migrations_dir: Path | None  # None: a service without tables
    version_table: str = ""
    routers: Sequence[APIRouter] = ()
    require_internal_token: bool = True
    open_prefixes: tuple[str, ...] = ()  # paths that authenticate themselves, not with the internal token
    body_limits: Sequence[BodyLimit] = ()
    lifespan: ExtraLifespan | None = None
    extra_readiness: dict[str, ReadinessCheck] = field(default_factory=dict)
    documents_auth: bool = False  # the operations check credentials of their own (the gateway's keys)
    middleware: Sequence[Middleware] = ()  # innermost, inside auth, limits and observability
    openapi_url: str | None = "/openapi.json"  # None: the service serves its document (and docs) itself


def create_service_app(
    spec: ServiceSpec,
    settings: ServiceSettings,
    *,
    store: ObjectStore | None = None,
) -> FastAPI:
    """Build a service. ``store`` injects an object store (tests); otherwise settings choose one."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.configure_logging:
            configure_logging(settings.service_name, settings.log_level, json_lines=settings.log_json)
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        database = Database.from_url(settings.resolved_database_url, pool_size=settings.database_pool_size)
        object_store = store or await create_store(settings)
        app.state.database = database
        app.state.store = object_store
        app.state.readiness_checks = {"database": database.ping, "object_store": object_store.check}
        app.state.readiness_checks.update(spec.extra_readiness)
        try:
            if settings.auto_migrate and spec.migrations_dir is not None:
                await migrations.upgrade(database.engine, spec.migrations_dir, spec.version_table)
            if spec.lifespan is not None:
                async with spec.lifespan(app):
                    logger.info("%s started on port %d", settings.service_name, settings.listen_port)
                    yield
            else:
                logger.info("%s started on port %d", settings.service_name, settings.listen_port)
                yield
        finally:
            if store is None:
                await object_store.close()
            await database.dispose()

    app = FastAPI(title=spec.title, lifespan=lifespan, openapi_url=spec.openapi_url)
    install_openapi(app, requires_auth=spec.require_internal_token or spec.documents_auth)
    app.state.settings = settings
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    app.state.metrics_registry = registry
    app.state.http_metrics = HttpMetrics(settings.service_name, registry)

    install_error_handlers(app)
    app.include_router(health_router)
    for router in spec.routers:
        app.include_router(router)

    # Added innermost first: observability wraps everything so that even a 401 or 413 is counted and logged.
    for extra in reversed(spec.middleware):
        app.add_middleware(extra.cls, *extra.args, **extra.kwargs)
    if spec.require_internal_token:
        app.add_middleware(
            InternalAuthMiddleware,
            internal_token=settings.resolved_internal_token(),
            open_prefixes=spec.open_prefixes,
        )
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes, overrides=spec.body_limits)
    app.add_middleware(PathGuardMiddleware)
    app.add_middleware(ObservabilityMiddleware, metrics=app.state.http_metrics)
    return app
