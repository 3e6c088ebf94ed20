"""Refuse request paths that no resource can have, before routing: an encoded ``/`` or ``\\``, a ``.`` or ``..``
segment, a ``%`` left after decoding (double encoding), a control character. Such a path is how a value
smuggles an extra segment into a route or an internal URL; refused here, no handler, quota or upstream ever
sees it. (Ids themselves are checked by their one type, ``automl_common.ids.IdPath``.)"""

from __future__ import annotations

from urllib.parse import unquote

from starlette.types import ASGIApp, Receive, Scope, Send

from automl_common.asgi import request_id_of, send_error
from automl_common.errors import NotFound

MAX_PATH_LENGTH = 2048


def unsafe_path_reason(raw_path: bytes) -> str | None:
    if len(raw_path) > MAX_PATH_LENGTH:
        return f"the path is longer than {MAX_PATH_LENGTH} characters"
    for segment in raw_path.decode("latin-1").split("/")[1:]:
        decoded = unquote(segment, errors="strict") if "%" in segment else segment
        if decoded in (".", ".."):
            return "the path has a '.' or '..' segment"
        if "/" in decoded or "\\" in decoded:
            return "the path has an encoded '/' or a '\\'"
        if "%" in decoded and segment != decoded:
            return "the path is encoded twice"
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in decoded):
            return "the path has a control character"
    return None


class PathGuardMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raw = scope.get("raw_path") or scope["path"].encode()
            try:
                reason = unsafe_path_reason(raw.split(b"?", 1)[0])
            except UnicodeDecodeError:
                reason = "the path is not valid UTF-8"
            if reason is not None:
                await send_error(send, NotFound(f"no resource has this path: {reason}"), request_id_of(scope))
                return
        await self.app(scope, receive, send)
