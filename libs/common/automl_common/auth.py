"""Service-side authentication of internal calls, and the caller's org.

Only the gateway holds the internal token; a service answers 401 to anything else (health, readiness and
metrics stay open for probes and scrapers, which a NetworkPolicy restricts on a cluster).
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from starlette.types import ASGIApp, Receive, Scope, Send

from automl_common.asgi import header_value, request_id_of, send_error
from automl_common.context import org_id_var
from automl_common.errors import BadRequest, Unauthorized

PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


class InternalAuthMiddleware:
    def __init__(self, app: ASGIApp, internal_token: str, open_prefixes: tuple[str, ...] = ()) -> None:
        self.app = app
        self.expected = internal_token.encode()
        self.open_prefixes = open_prefixes  # paths with an authentication of their own (job tokens)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PUBLIC_PATHS or scope["path"].startswith(self.open_prefixes):
            await self.app(scope, receive, send)
            return
        presented = header_value(scope, b"x-internal-token")
        if presented is None or not hmac.compare_digest(presented.encode(), self.expected):
            detail = "missing internal token" if presented is None else "invalid internal token"
            await send_error(send, Unauthorized(detail), request_id_of(scope))
            return
        org_id = header_value(scope, b"x-org-id")
        token = org_id_var.set(org_id)
        try:
            await self.app(scope, receive, send)
        finally:
            org_id_var.reset(token)


def require_org_id(request: Request) -> str:
    org_id = request.headers.get("x-org-id")
    if not org_id:
        raise BadRequest("X-Org-Id header is required on internal calls")
    return org_id


OrgIdDep = Annotated[str, Depends(require_org_id)]
