"""The gateway app factory: the public entry, orgs and keys, and the proxy to every service."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI
from httpx_aiohttp import AiohttpTransport

from automl_common.app import ServiceSpec, create_service_app
from automl_common.limits import BodyLimit
from automl_common.storage import ObjectStore
from gateway.auth import Authenticator
from gateway.db import VERSION_TABLE
from gateway.keys.router import router as keys_router
from gateway.orgs.router import router as orgs_router
from gateway.proxy.router import Upstream, build_router
from gateway.ratelimit import TokenBucketLimiter
from gateway.settings import GatewaySettings

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "alembic"


def create_app(
    settings: GatewaySettings | None = None,
    *,
    store: ObjectStore | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """Build the gateway. ``transport`` replaces the HTTP transport to the services (tests).

    The proxy speaks httpx, over aiohttp's connection pool by default: httpcore's pool re-checks every idle
    connection's socket on each request, which made it the gateway's main CPU cost under concurrency."""
    settings = settings or GatewaySettings()
    internal_token = settings.resolved_internal_token()
    timeout = httpx.Timeout(
        settings.upstream_timeout_s, connect=settings.upstream_connect_timeout_s, pool=settings.upstream_connect_timeout_s
    )
    limits = httpx.Limits(
        max_connections=settings.upstream_max_connections, max_keepalive_connections=settings.upstream_max_connections
    )
    clients: dict[str, httpx.AsyncClient] = {}
    upstreams: dict[str, Upstream] = {}
    for prefix, (name, url) in settings.routes().items():
        if url not in clients:
            clients[url] = httpx.AsyncClient(
                timeout=timeout, limits=limits, transport=transport or AiohttpTransport(limits=limits)
            )
        upstreams[prefix] = Upstream(name, url, internal_token, clients[url])

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.authenticator = Authenticator(app.state.database, settings.key_cache_ttl_s)
        app.state.rate_limiter = TokenBucketLimiter(settings.rate_limit_per_s, settings.rate_limit_burst)
        app.state.operator_key = settings.resolved_operator_key()
        try:
            yield
        finally:
            for client in clients.values():
                await client.aclose()

    spec = ServiceSpec(
        title="AutoML platform API",
        migrations_dir=MIGRATIONS_DIR,
        version_table=VERSION_TABLE,
        routers=[orgs_router, keys_router, build_router(upstreams)],
        require_internal_token=False,
        body_limits=[BodyLimit("POST", re.compile(r"/v1/datasets/?"), settings.max_upload_bytes)],
        lifespan=lifespan,
    )
    return create_service_app(spec, settings, store=store)
