"""OpenAI-compatible generation on llm deployments: chat completions and completions, whole or streamed as
server-sent events (``data: {chunk}`` lines, then ``data: [DONE]``). Each answer carries its token usage (the
last chunk of a stream too), counted here as they are generated (``usage.meter``)."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from automl_common.deps import SessionDep
from automl_common.errors import Conflict, InvalidRequest, NotFound, ServiceUnavailable, error_responses
from automl_common.ids import IdPath, new_id
from automl_proto import openai
from automl_proto.inference import PromptInput
from inference_svc.deployments import service
from inference_svc.deployments.calls import ServeCalls
from inference_svc.deps import InputsDep, PayerDep, ServeCallsDep
from inference_svc.inputs import InputReader
from inference_svc.usage.meter import Payer

router = APIRouter(prefix="/v1/deployments", tags=["generation"])

# A stream's 200 is text/event-stream; a whole answer's is JSON.
STREAM_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}, "description": "the answer"}
}


def prompt_of(body: openai.ChatCompletionRequest | openai.CompletionRequest) -> PromptInput:
    try:
        return body.prompt_input()
    except ValidationError as e:
        problems = [
            f"{'.'.join(str(part) for part in error['loc']) or 'body'}: "
            + str(error["msg"]).removeprefix("Value error, ")
            for error in e.errors()
        ]
        raise InvalidRequest("; ".join(problems)) from e


def max_tokens_given(body: openai.ChatCompletionRequest | openai.CompletionRequest) -> bool:
    """Whether the caller chose the reply's length (else its default is cut to fit the model's context)."""
    return body.max_tokens is not None or body.max_completion_tokens is not None


def _event(data: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"


@dataclass(frozen=True)
class _Api:
    """What differs between the two endpoints: the answer's id prefix and object names, and where a reply's
    text goes in a choice (a chat's message or delta, a completion's text)."""

    id_prefix: str
    chunk_object: str
    choice: Callable[[str, bool], dict[str, Any]]  # (text, streamed piece?) -> the choice's text fields
    whole: type[openai.ChatCompletion] | type[openai.Completion]


CHAT = _Api(
    "chatcmpl",
    "chat.completion.chunk",
    lambda text, piece: {"delta" if piece else "message": {"role": "assistant", "content": text}},
    openai.ChatCompletion,
)
COMPLETION = _Api("cmpl", "text_completion", lambda text, piece: {"text": text}, openai.Completion)


async def _answer(
    api: _Api,
    body: openai.ChatCompletionRequest | openai.CompletionRequest,
    deployment_id: str,
    session: AsyncSession,
    calls: ServeCalls,
    reader: InputReader,
    payer: Payer,
) -> Any:
    route, request = await service.generation(
        session, reader, payer.org_id, deployment_id, prompt_of(body), max_tokens_given(body)
    )
    head = {"id": new_id(api.id_prefix), "created": int(time.time()), "model": deployment_id}
    if body.stream:
        replies = await primed(calls.stream(deployment_id, route, request, payer))
        return StreamingResponse(events(api, head, replies), media_type="text/event-stream")
    [reply] = await calls.predict(deployment_id, route, [request], payer)
    return whole(api, head, reply)


def whole(api: _Api, head: dict[str, Any], reply: dict[str, Any]) -> Any:
    """A reply answered at once, as the API's whole (not streamed) answer."""
    choice = {"index": 0, "finish_reason": reply["finish_reason"]} | api.choice(reply["text"], False)
    return api.whole.model_validate(head | {"choices": [choice], "usage": reply["usage"]})


async def primed(replies: AsyncGenerator[dict[str, Any]]) -> AsyncGenerator[dict[str, Any]]:
    """The stream with its first piece already awaited: a request the model refuses at once (a prompt past its
    context) is then a plain 4xx answer, before any status line of a stream is sent."""
    try:
        first = [await anext(replies)]
    except StopAsyncIteration:
        first = []
    except BaseException:
        await replies.aclose()
        raise

    async def rest() -> AsyncGenerator[dict[str, Any]]:
        async with contextlib.aclosing(replies):
            for item in first:
                yield item
            async for item in replies:
                yield item

    return rest()


async def events(api: _Api, head: dict[str, Any], replies: AsyncGenerator[dict[str, Any]]) -> AsyncIterator[bytes]:
    """The reply's pieces as chunks; the last chunk has the finish reason and the usage; then ``[DONE]``. The
    replies are closed however the stream ends (a reader gone stops the generation and counts its tokens)."""
    try:
        async with contextlib.aclosing(replies):
            async for item in replies:
                if item.get("done"):
                    last: dict[str, Any] = {"delta": {}} if api is CHAT else {"text": ""}
                    choice = {"index": 0, "finish_reason": item["finish_reason"]} | last
                    yield _event(head | {"object": api.chunk_object, "choices": [choice], "usage": item["usage"]})
                else:
                    choice = {"index": 0, "finish_reason": None} | api.choice(item["delta"], True)
                    yield _event(head | {"object": api.chunk_object, "choices": [choice]})
    except Exception as error:  # the status line is gone: the failure is the stream's last event
        yield _event({"error": {"message": f"generation failed: {type(error).__name__}", "type": "server_error"}})
    yield b"data: [DONE]\n\n"


@router.post(
    "/{deployment_id}/chat/completions",
    response_model=openai.ChatCompletion,
    responses={**STREAM_RESPONSE, **error_responses(NotFound, Conflict, InvalidRequest, ServiceUnavailable)},
)
async def chat_completions(
    deployment_id: IdPath,
    body: openai.ChatCompletionRequest,
    session: SessionDep,
    calls: ServeCallsDep,
    reader: InputsDep,
    payer: PayerDep,
) -> Any:
    """The deployment's reply to a conversation, as OpenAI's chat completions API gives it."""
    return await _answer(CHAT, body, deployment_id, session, calls, reader, payer)


@router.post(
    "/{deployment_id}/completions",
    response_model=openai.Completion,
    responses={**STREAM_RESPONSE, **error_responses(NotFound, Conflict, InvalidRequest, ServiceUnavailable)},
)
async def completions(
    deployment_id: IdPath,
    body: openai.CompletionRequest,
    session: SessionDep,
    calls: ServeCallsDep,
    reader: InputsDep,
    payer: PayerDep,
) -> Any:
    """The deployment's reply to a prompt (taken as one user turn through the model's chat template, as it was
    trained), as OpenAI's completions API gives it."""
    return await _answer(COMPLETION, body, deployment_id, session, calls, reader, payer)
