"""The reverse proxy: ``/v1/<prefix>[/...]`` to the service that owns the prefix, both bodies streamed.

It runs as pure ASGI inside the observability and body-limit middlewares (so every proxied request still
gets a request id, metrics, an access log and the size limit) but outside FastAPI's routing and dependency
machinery, which would double the gateway's CPU per request for nothing a proxy needs. The data plane uses
aiohttp's client: httpx over httpcore re-checked every pooled socket on every request, which made the
client the gateway's largest cost under concurrency (bench/gateway_overhead.py measures the result).
Control-plane calls between services use the httpx ``InternalClient`` of the shared library.

The gateway strips the caller's credentials and adds the internal token, the org id, the key id and scope,
and the request id. Transport failures become 502/503/504 in the one error shape; the service's own
answers (errors included) pass through unchanged.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote

import aiohttp
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from yarl import URL

from automl_common.asgi import header_value, request_id_of, send_error
from automl_common.context import (
    INTERNAL_TOKEN_HEADER,
    KEY_ID_HEADER,
    KEY_SCOPE_HEADER,
    ORG_ID_HEADER,
    PLAYGROUND_ROWS_HEADER,
    REQUEST_ID_HEADER,
)
from automl_common.errors import (
    AutoMLError,
    BadGateway,
    BadRequest,
    GatewayTimeout,
    ServiceUnavailable,
)
from gateway.auth import Principal, check_scope, resolve_principal
from gateway.clients import client_address
from gateway.usage.meter import METERED, UsageMeter

# Answers up to this size are read whole and sent in one message; larger ones stream through.
_BUFFER_LIMIT = 64 * 1024
_CHUNK_SIZE = 256 * 1024

# Hop-by-hop headers (RFC 9110 7.6.1): never forwarded in either direction.
_HOP_BY_HOP = ("connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade")
# Also dropped: the caller's credentials, and what only the gateway may set.
_DROP_REQUEST = frozenset(
    name.encode()
    for name in (
        *_HOP_BY_HOP,
        "host",
        "authorization",
        "cookie",
        INTERNAL_TOKEN_HEADER.lower(),
        ORG_ID_HEADER.lower(),
        KEY_ID_HEADER.lower(),
        KEY_SCOPE_HEADER.lower(),
        PLAYGROUND_ROWS_HEADER.lower(),
        REQUEST_ID_HEADER.lower(),
    )
)
# The gateway's own server, date and request id replace the service's.
_DROP_RESPONSE = frozenset(name.encode() for name in (*_HOP_BY_HOP, "server", "date", REQUEST_ID_HEADER.lower()))


class ClientDisconnected(Exception):
    pass


@dataclass(frozen=True)
class ProxyRoute:
    """Stands in for a Starlette route in ``scope['route']`` so metrics label by template, not raw path."""

    path: str


class Upstream:
    """One service behind the gateway, reached through a shared aiohttp session."""

    def __init__(self, name: str, base_url: str, internal_token: str, timeout: aiohttp.ClientTimeout) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.internal_token = internal_token
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("the upstream session is created in the gateway's lifespan")
        return self._session

    def bind(self, session: aiohttp.ClientSession | None) -> None:
        self._session = session

    def request_headers(self, scope: Scope, principal: Principal) -> list[tuple[str, str]]:
        headers = [
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in scope["headers"]
            if name not in _DROP_REQUEST
        ]
        headers.append((INTERNAL_TOKEN_HEADER, self.internal_token))
        headers.append((ORG_ID_HEADER, principal.org_id))
        headers.append((KEY_ID_HEADER, principal.key_id))
        headers.append((KEY_SCOPE_HEADER, principal.scope))
        request_id = request_id_of(scope)
        if request_id:
            headers.append((REQUEST_ID_HEADER, request_id))
        return headers

    async def forward(self, scope: Scope, receive: Receive, send: Send, principal: Principal) -> None:
        query = scope.get("query_string", b"").decode("latin-1")
        raw_path = scope.get("raw_path")
        path = raw_path.decode("latin-1").split("?", 1)[0] if raw_path else quote(scope["path"])
        url = URL(self.base_url + path + (f"?{query}" if query else ""), encoded=True)
        has_body = (
            header_value(scope, b"content-length") is not None or header_value(scope, b"transfer-encoding") is not None
        )
        body_error: list[BaseException] = []
        try:
            response = await self.session.request(
                scope["method"],
                url,
                headers=self.request_headers(scope, principal),
                data=_request_body(receive, body_error) if has_body else None,
                allow_redirects=False,
                auto_decompress=False,
                skip_auto_headers=("User-Agent", "Accept-Encoding", "Accept", "Content-Type"),
                timeout=self.timeout,
            )
        except (TimeoutError, aiohttp.ClientError) as error:
            if body_error:
                raise body_error[0] from error
            raise self._map_error(error) from error

        try:
            headers = [
                (name.lower(), value) for name, value in response.raw_headers if name.lower() not in _DROP_RESPONSE
            ]
            if response.content_length is not None and response.content_length <= _BUFFER_LIMIT:
                try:
                    body = await response.read()
                except (TimeoutError, aiohttp.ClientError) as error:
                    raise self._map_error(error) from error
                await send({"type": "http.response.start", "status": response.status, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
            await send({"type": "http.response.start", "status": response.status, "headers": headers})
            # Once the answer has started, a failure can only cut the connection; the client sees a short body.
            async for chunk in response.content.iter_chunked(_CHUNK_SIZE):
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            response.release()

    def _map_error(self, error: BaseException) -> AutoMLError:
        if isinstance(error, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
            return GatewayTimeout(f"{self.name} did not answer in time")
        if isinstance(error, aiohttp.ClientConnectorError):
            return ServiceUnavailable(f"{self.name} is unavailable", headers={"Retry-After": "1"})
        return BadGateway(f"{self.name} failed: {type(error).__name__}")


async def _request_body(receive: Receive, errors: list[BaseException]) -> AsyncIterator[bytes]:
    """The caller's body as it arrives. A failure here (size limit, NUL in JSON text, disconnect) is kept for
    the caller of the upstream request to raise, since aiohttp reports it only as a broken upload."""
    try:
        while True:
            message: Message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnected("the client went away while sending the body")
            chunk = message.get("body", b"")
            if chunk:
                yield chunk
            if not message.get("more_body", False):
                return
    except (AutoMLError, ClientDisconnected) as error:  # the size limit, a NUL in JSON text: the caller's fault
        errors.append(error if isinstance(error, AutoMLError) else BadRequest(str(error)))
        raise


class ProxyMiddleware:
    """Answers every path under a proxied prefix; everything else goes on to the gateway's own routes."""

    def __init__(
        self,
        app: ASGIApp,
        upstreams: Mapping[str, Upstream],
        local_paths: Sequence[tuple[str, re.Pattern[str]]] = (),
    ) -> None:
        self.app = app
        # (method, path) under a proxied prefix that the gateway answers itself (what it meters and quotas).
        self.local_paths = tuple(local_paths)
        # Longest prefix first, so that a more specific route wins.
        self.routes = sorted(
            ((prefix.rstrip("/"), upstream) for prefix, upstream in upstreams.items()), key=lambda item: -len(item[0])
        )

    def match(self, method: str, path: str) -> tuple[str, Upstream] | None:
        if any(method == local and pattern.match(path) for local, pattern in self.local_paths):
            return None
        for prefix, upstream in self.routes:
            if path == prefix or path.startswith(prefix + "/"):
                return prefix, upstream
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        matched = self.match(scope["method"], scope["path"]) if scope["type"] == "http" else None
        if matched is None:
            await self.app(scope, receive, send)
            return
        prefix, upstream = matched
        scope["route"] = ProxyRoute(prefix if scope["path"] == prefix else prefix + "/{rest:path}")
        started = False
        status = 500
        metered = METERED.match(scope["path"]) if scope["method"] == "POST" else None

        async def tracking_send(message: Message) -> None:
            nonlocal started, status
            if message["type"] == "http.response.start":
                started, status = True, message["status"]
            await send(message)

        began = time.perf_counter()
        principal: Principal | None = None
        try:
            state = scope["app"].state
            client = client_address(scope, state.trusted_networks)
            principal = await resolve_principal(state, header_value(scope, b"authorization"), client)
            check_scope(principal, scope["method"], scope["path"])
            await upstream.forward(scope, receive, tracking_send, principal)
        except AutoMLError as error:
            if started:
                raise
            status = error.status_code
            await send_error(send, error, request_id_of(scope))
        finally:
            # A deployment the caller's org does not have (404) is no deployment's usage.
            if metered is not None and principal is not None and status != 404:
                meter: UsageMeter = scope["app"].state.usage_meter
                latency_ms = (time.perf_counter() - began) * 1000
                meter.record(principal.org_id, metered["deployment_id"], principal.key_id, status, latency_ms)
