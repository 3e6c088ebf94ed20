"""Request body size limits, enforced while the body streams (a missing or lying Content-Length too)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from automl_common.asgi import header_value, request_id_of, send_error
from automl_common.errors import BadRequest, InvalidRequest, PayloadTooLarge


@dataclass(frozen=True)
class BodyLimit:
    """A larger (or smaller) limit for the requests whose method and path match."""

    method: str
    path: re.Pattern[str]
    max_bytes: int


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int, overrides: Sequence[BodyLimit] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.overrides = tuple(overrides)

    def limit_for(self, scope: Scope) -> int:
        for override in self.overrides:
            if override.method == scope["method"] and override.path.fullmatch(scope["path"]):
                return override.max_bytes
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope)
        declared = header_value(scope, b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await send_error(send, BadRequest("Content-Length header is not a number"), request_id_of(scope))
                return
            if int(declared) > limit:
                await send_error(send, _too_large(limit), request_id_of(scope))
                return

        received = 0
        response_started = False
        content_type = header_value(scope, b"content-type") or ""
        nul_scan = NulScan() if content_type.lower().startswith("application/json") else None

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                received += len(chunk)
                if received > limit:
                    raise _too_large(limit)
                if nul_scan is not None and nul_scan.feed(chunk):
                    raise NulInText("a JSON string holds a NUL character (\\u0000), which no field accepts")
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except (PayloadTooLarge, NulInText) as error:
            # Raised from inside a body read that nothing upstream handled (e.g. a streaming consumer).
            if response_started:
                raise
            await send_error(send, error, request_id_of(scope))


class NulInText(InvalidRequest):
    """Text can hold any character but NUL: Postgres refuses it, so it is refused at the door."""


class NulScan:
    """Finds a ``\\u0000`` escape in JSON text fed in chunks (an escaped backslash before ``u0000`` is not one)."""

    def __init__(self) -> None:
        self._tail = b""

    def feed(self, chunk: bytes) -> bool:
        data = self._tail + chunk
        self._tail = data[-16:]
        start = 0
        while (found := data.find(b"u0000", start)) != -1:
            slashes = 0
            while found - slashes - 1 >= 0 and data[found - slashes - 1] == 0x5C:
                slashes += 1
            if slashes % 2 == 1:
                return True
            start = found + 1
        return False


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"request body is larger than the limit of {limit} bytes")
