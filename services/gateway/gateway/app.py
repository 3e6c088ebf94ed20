"""The gateway app factory: the public entry, orgs and keys, and the proxy to every service."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import httpx
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from prometheus_client import Counter
from starlette.middleware import Middleware

from automl_common.app import ServiceSpec, create_service_app
from automl_common.http import InternalClient
from automl_common.limits import BodyLimit
from automl_common.storage import ObjectStore
from gateway import console
from gateway.auth import Authenticator, KeyGuessingGuard
from gateway.db import VERSION_TABLE
from gateway.headers import SecurityHeadersMiddleware
from gateway.idempotency import IdempotencyMiddleware
from gateway.keys.router import router as keys_router
from gateway.openapi.document import PublicDocument, Source
from gateway.openapi.router import STATIC_DIR, STATIC_URL
from gateway.openapi.router import router as openapi_router
from gateway.orgs.router import router as orgs_router
from gateway.playground.router import router as playground_router
from gateway.playground.service import PlaygroundQuotas
from gateway.proxy.middleware import ProxyMiddleware, Upstream
from gateway.ratelimit import TokenBucketLimiter
from gateway.settings import GatewaySettings
from gateway.usage.meter import UsageMeter
from gateway.usage.router import router as usage_router
from gateway.worker import Purger

# Answered by the gateway itself, which meters them against the free playground quota.
LOCAL_PATHS = [
    ("POST", re.compile(r"^/v1/models/[^/]+/playground$")),
    ("POST", re.compile(r"^/v1/models/[^/]+/playground/chat/completions$")),
    ("POST", re.compile(r"^/v1/batch-predictions/?$")),
]
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "alembic"
logger = logging.getLogger("automl.gateway")


def create_app(settings: GatewaySettings | None = None, *, store: ObjectStore | None = None) -> FastAPI:
    settings = settings or GatewaySettings()
    internal_token = settings.resolved_internal_token()
    timeout = aiohttp.ClientTimeout(
        total=None,
        connect=settings.upstream_connect_timeout_s,  # includes waiting for a free pooled connection
        sock_connect=settings.upstream_connect_timeout_s,
        sock_read=settings.upstream_timeout_s,
    )
    upstreams = {
        prefix: Upstream(name, url, internal_token, timeout) for prefix, (name, url) in settings.routes().items()
    }
    services: dict[tuple[str, str], list[str]] = {}
    for prefix, (name, url) in settings.routes().items():
        services.setdefault((name, url), []).append(prefix)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.authenticator = Authenticator(app.state.database, settings.key_cache_ttl_s)
        app.state.rate_limiter = TokenBucketLimiter(settings.rate_limit_per_s, settings.rate_limit_burst)
        app.state.org_rate_limiter = TokenBucketLimiter(settings.org_rate_limit_per_s, settings.org_rate_limit_burst)
        app.state.key_guessing_guard = KeyGuessingGuard(
            TokenBucketLimiter(settings.auth_failures_per_s, settings.auth_failure_burst),
            TokenBucketLimiter(settings.auth_address_failures_per_s, settings.auth_address_failure_burst),
        )
        app.state.trusted_networks = settings.trusted_networks
        app.state.operator_key = settings.resolved_operator_key()
        connector = aiohttp.TCPConnector(limit=settings.upstream_max_connections, keepalive_timeout=30)
        session = aiohttp.ClientSession(connector=connector, auto_decompress=False)
        for upstream in upstreams.values():
            upstream.bind(session)
        # The playground's calls wait as long as proxied ones: longer than inference-svc's own predict timeout,
        # before which a generation ends with what it has (a reply the gateway gave up on would be lost).
        app.state.inference = InternalClient(
            "inference-svc",
            settings.inference_url,
            internal_token,
            timeout=httpx.Timeout(settings.upstream_timeout_s, connect=settings.upstream_connect_timeout_s),
        )
        app.state.public_document = PublicDocument(
            app.openapi,
            [
                Source(InternalClient(name, url, internal_token), tuple(prefixes))
                for (name, url), prefixes in services.items()
            ],
            LOCAL_PATHS,
            settings.openapi_cache_ttl_s,
        )
        app.state.usage_meter = UsageMeter(app.state.database, settings.usage_flush_interval_s)
        app.state.playground_quotas = PlaygroundQuotas(
            app.state.database, app.state.usage_meter, app.state.playground_exhausted, settings.playground_quota
        )
        await app.state.usage_meter.start()
        purger = Purger(app.state.database, settings.idempotency_ttl_s)
        await purger.start()
        try:
            yield
        finally:
            await purger.stop()
            await app.state.usage_meter.stop()
            await app.state.inference.aclose()
            await app.state.public_document.aclose()
            for upstream in upstreams.values():
                upstream.bind(None)
            await session.close()

    spec = ServiceSpec(
        title="AutoML platform API",
        migrations_dir=MIGRATIONS_DIR,
        version_table=VERSION_TABLE,
        routers=[orgs_router, keys_router, playground_router, usage_router, openapi_router],
        openapi_url=None,  # the gateway's /openapi.json is the whole public API (gateway.openapi)
        require_internal_token=False,
        documents_auth=True,
        body_limits=[
            BodyLimit("POST", re.compile(r"/v1/datasets/?"), settings.max_upload_bytes),
            BodyLimit("POST", re.compile(r"/datasets/upload"), settings.max_upload_bytes),  # the console's
        ],
        middleware=[
            Middleware(
                IdempotencyMiddleware,
                ttl_s=settings.idempotency_ttl_s,
                stale_after_s=settings.idempotency_stale_after_s,
            ),
            Middleware(ProxyMiddleware, upstreams=upstreams, local_paths=LOCAL_PATHS),
        ],
        lifespan=lifespan,
    )
    app = create_service_app(spec, settings, store=store)
    app.mount(STATIC_URL, StaticFiles(directory=STATIC_DIR), name="docs-static")
    secure = (
        settings.console_secure_cookies if settings.console_secure_cookies is not None else settings.mode != "local"
    )
    console.install(
        app, settings.resolved_console_secret(), session_ttl_s=settings.console_session_ttl_s, secure_cookies=secure
    )
    # Outermost: every answer gets them, the console's pages, the API's, the proxy's and the errors alike.
    app.add_middleware(SecurityHeadersMiddleware, hsts=secure)
    app.state.playground_exhausted = Counter(
        "automl_playground_quota_exhausted",
        "Playground queries refused because the model's free quota was used up",
        registry=app.state.metrics_registry,
    )
    return app
