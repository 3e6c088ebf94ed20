"""Responses the services share: a stored object streamed to the client as it is read from the store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi.responses import StreamingResponse

from automl_common.storage import ObjectStore


async def object_response(
    store: ObjectStore, key: str, media_type: str, *, filename: str | None = None
) -> StreamingResponse:
    """``ObjectNotFound`` at once if the object is gone; otherwise its bytes, with its length."""
    stream = await store.open(key)

    async def body() -> AsyncIterator[bytes]:
        async with stream:
            async for chunk in stream:
                yield chunk

    headers = {"Content-Length": str(stream.info.size)}
    if filename is not None:
        headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return StreamingResponse(body(), media_type=media_type, headers=headers)


def file_responses(description: str, *media_types: str) -> dict[int | str, dict[str, Any]]:
    """The 200 of a route answering a file's bytes (use with ``response_class=StreamingResponse``, which adds
    no JSON schema of its own)."""
    binary = {"schema": {"type": "string", "format": "binary"}}
    return {200: {"description": description, "content": {media_type: binary for media_type in media_types}}}
