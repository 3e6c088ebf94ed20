"""A chat with an llm model, streamed: the page's messages go to the public chat completions API (a
deployment's, or the playground's) with ``stream: true`` over the gateway's own socket (the in-process
transport would hold the stream until its end), and its server-sent events come back as they arrive, with
the free queries left when it is the playground."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
from fastapi import Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from automl_proto.openai import ChatCompletionRequest
from gateway.console.session import Session

PASSED_HEADERS = ("x-playground-remaining", "retry-after")


async def relay_chat(request: Request, session: Session, upstream_path: str) -> Response:
    try:
        body = ChatCompletionRequest.model_validate(
            {**json.loads(await request.body() or b"{}"), "stream": True, "temperature": 0}
        )
    except (ValueError, TypeError) as error:  # not JSON, or not a chat (pydantic's errors are ValueErrors)
        return JSONResponse({"error": "InvalidRequest", "detail": str(error)[:500]}, status_code=422)
    host, port = request.scope.get("server") or ("127.0.0.1", 8080)
    client = httpx.AsyncClient(base_url=f"http://{host}:{port}", timeout=httpx.Timeout(120, connect=10))
    upstream = await client.send(
        client.build_request(
            "POST",
            upstream_path,
            content=body.model_dump_json(exclude_unset=True),
            headers={"Authorization": f"Bearer {session.key}", "Content-Type": "application/json"},
        ),
        stream=True,
    )

    async def relay() -> AsyncIterator[bytes]:
        try:
            async for chunk in upstream.aiter_raw():
                yield chunk
        finally:
            await upstream.aclose()
            await client.aclose()

    headers = {name: upstream.headers[name] for name in PASSED_HEADERS if name in upstream.headers}
    media_type = upstream.headers.get("content-type", "text/event-stream")
    return StreamingResponse(relay(), status_code=upstream.status_code, media_type=media_type, headers=headers)
