"""Request body size limits, enforced while the body streams (a missing or lying Content-Length too)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from automl_common.asgi import header_value, request_id_of, send_error
from automl_common.errors import BadRequest, PayloadTooLarge


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

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _too_large(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except PayloadTooLarge as error:
            # Raised from inside a body read that nothing upstream handled (e.g. a streaming consumer).
            if response_started:
                raise
            await send_error(send, error, request_id_of(scope))


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"request body is larger than the limit of {limit} bytes")
