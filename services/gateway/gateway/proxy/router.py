"""Forward authenticated requests to the owning service, streaming both bodies.

The gateway strips the caller's credentials and adds the internal token, the org id, the key id and scope,
and the request id. Transport failures become 502/503/504 in the one error shape; the service's own
answers (errors included) pass through unchanged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from starlette.background import BackgroundTask

from automl_common.context import (
    INTERNAL_TOKEN_HEADER,
    KEY_ID_HEADER,
    KEY_SCOPE_HEADER,
    ORG_ID_HEADER,
    REQUEST_ID_HEADER,
    request_id_var,
)
from automl_common.errors import Forbidden
from automl_common.http import upstream_error
from gateway.auth import Principal, PrincipalDep

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
# Answers up to this size are read whole and sent in one piece; larger ones stream through.
_BUFFER_LIMIT = 64 * 1024

# Hop-by-hop headers (RFC 9110 7.6.1) and what the gateway itself decides.
_DROP_REQUEST = frozenset(
    {
        "host",
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "upgrade",
        "authorization",
        "cookie",
        INTERNAL_TOKEN_HEADER.lower(),
        ORG_ID_HEADER.lower(),
        KEY_ID_HEADER.lower(),
        KEY_SCOPE_HEADER.lower(),
        REQUEST_ID_HEADER.lower(),
    }
)
_DROP_RESPONSE = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "server", "date", REQUEST_ID_HEADER.lower()}
)


class Upstream:
    """One service behind the gateway and the pooled client that reaches it."""

    def __init__(
        self, name: str, base_url: str, internal_token: str, client: httpx.AsyncClient
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.internal_token = internal_token
        self.client = client

    def request_headers(self, request: Request, principal: Principal) -> list[tuple[str, str]]:
        headers = [(k, v) for k, v in request.headers.items() if k not in _DROP_REQUEST]
        headers.append((INTERNAL_TOKEN_HEADER, self.internal_token))
        headers.append((ORG_ID_HEADER, principal.org_id))
        headers.append((KEY_ID_HEADER, principal.key_id))
        headers.append((KEY_SCOPE_HEADER, principal.scope))
        request_id = request_id_var.get()
        if request_id:
            headers.append((REQUEST_ID_HEADER, request_id))
        return headers

    async def forward(self, request: Request, principal: Principal) -> Response:
        has_body = "content-length" in request.headers or "transfer-encoding" in request.headers
        upstream_request = self.client.build_request(
            request.method,
            self.base_url + request.url.path,
            params=request.url.query or None,
            headers=self.request_headers(request, principal),
            content=request.stream() if has_body else None,
        )
        try:
            response = await self.client.send(upstream_request, stream=True)
        except httpx.TransportError as error:
            raise upstream_error(error, self.name) from error

        headers = _response_headers(response.headers.multi_items())
        length = response.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) <= _BUFFER_LIMIT:
            try:
                body = await response.aread()
            except httpx.TransportError as error:
                raise upstream_error(error, self.name) from error
            finally:
                await response.aclose()
            return Response(body, status_code=response.status_code, headers=headers)
        return StreamingResponse(
            response.aiter_raw(), status_code=response.status_code, headers=headers, background=BackgroundTask(response.aclose)
        )


def _response_headers(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    # A dict keeps one value per name; Set-Cookie is the only header that may repeat, and services set none.
    return {k: v for k, v in items if k.lower() not in _DROP_RESPONSE}


def check_scope(principal: Principal, request: Request) -> None:
    """A deployment-scoped key may only call predict on its own deployment."""
    if principal.scope == "admin":
        return
    allowed = (
        principal.scope == "deployment"
        and request.method == "POST"
        and request.url.path == f"/v1/deployments/{principal.deployment_id}/predict"
    )
    if not allowed:
        raise Forbidden("this key is scoped to one deployment's predict endpoint")


def build_router(upstreams: dict[str, Upstream]) -> APIRouter:
    """Routes for every prefix: ``/v1/datasets`` and ``/v1/datasets/...`` (not ``/v1/datasetsX``)."""
    router = APIRouter(tags=["proxy"])
    for prefix, upstream in upstreams.items():
        endpoint = _endpoint(upstream)
        for path in (prefix, prefix + "/{rest:path}"):
            router.add_api_route(path, endpoint, methods=METHODS, include_in_schema=False, name=f"proxy:{path}")
    return router


def _endpoint(upstream: Upstream) -> Callable[[Request, Principal], Awaitable[Response]]:
    async def proxy(request: Request, principal: PrincipalDep) -> Response:
        check_scope(principal, request)
        return await upstream.forward(request, principal)

    return proxy
