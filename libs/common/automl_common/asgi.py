"""Small helpers for pure ASGI middleware (no ``BaseHTTPMiddleware``: it buffers and costs per request)."""

from __future__ import annotations

import json

from starlette.types import Scope, Send

from automl_common.errors import AutoMLError


def request_id_of(scope: Scope) -> str | None:
    state = scope.get("state") or {}
    value = state.get("request_id")
    return value if isinstance(value, str) else None


async def send_error(send: Send, error: AutoMLError, request_id: str | None) -> None:
    # The request id header itself is added by the observability middleware, which wraps everything.
    body = json.dumps(error.to_body(request_id)).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    headers.extend((k.lower().encode(), v.encode()) for k, v in error.headers.items())
    await send({"type": "http.response.start", "status": error.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def header_value(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None
