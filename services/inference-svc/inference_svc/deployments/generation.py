"""OpenAI-compatible generation on llm deployments: chat completions and completions, whole or streamed as
server-sent events (``data: {chunk}`` lines, then ``data: [DONE]``). Each answer carries its token usage (the
last chunk of a stream too), which the gateway meters."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from pydantic import ValidationError

from automl_common.auth import OrgIdDep
from automl_common.deps import SessionDep
from automl_common.errors import Conflict, InvalidRequest, NotFound, ServiceUnavailable, error_responses
from automl_common.ids import IdPath, new_id
from automl_proto import openai
from automl_proto.inference import PromptInput
from inference_svc.deployments import service
from inference_svc.deployments.manager import DeploymentManager
from inference_svc.deps import InputsDep, ManagerDep

router = APIRouter(prefix="/v1/deployments", tags=["generation"])

# A stream's 200 is text/event-stream; a whole answer's is JSON.
STREAM_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}, "description": "the answer"}
}


def _prompt(body: openai.ChatCompletionRequest | openai.CompletionRequest) -> PromptInput:
    try:
        return body.prompt_input()
    except ValidationError as e:
        problems = [
            f"{'.'.join(str(part) for part in error['loc']) or 'body'}: "
            + str(error["msg"]).removeprefix("Value error, ")
            for error in e.errors()
        ]
        raise InvalidRequest("; ".join(problems)) from e


def _event(data: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"


async def _stream(
    manager: DeploymentManager, deployment_id: str, app_name: str, request: dict[str, Any], chunk: Any
) -> AsyncIterator[bytes]:
    """``chunk(delta_text, finish_reason, usage)`` shapes each event for its endpoint."""
    try:
        async for item in manager.stream(deployment_id, app_name, request):
            if item.get("done"):
                yield _event(chunk("", item["finish_reason"], item["usage"]))
            else:
                yield _event(chunk(item["delta"], None, None))
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
    manager: ManagerDep,
    reader: InputsDep,
    org_id: OrgIdDep,
) -> Any:
    """The deployment's reply to a conversation, as OpenAI's chat completions API gives it."""
    app_name, request = await service.generation(session, reader, org_id, deployment_id, _prompt(body))
    answer_id, created = new_id("chatcmpl"), int(time.time())
    if body.stream:

        def chunk(delta: str, finish: str | None, usage: dict[str, int] | None) -> dict[str, Any]:
            content = {"role": "assistant", "content": delta} if finish is None else {}
            event = {
                "id": answer_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": deployment_id,
                "choices": [{"index": 0, "delta": content, "finish_reason": finish}],
            }
            return event | ({"usage": usage} if usage is not None else {})

        return StreamingResponse(
            _stream(manager, deployment_id, app_name, request, chunk), media_type="text/event-stream"
        )
    [reply] = await manager.predict(deployment_id, app_name, [request])
    return openai.ChatCompletion(
        id=answer_id,
        created=created,
        model=deployment_id,
        choices=[
            openai.ChatChoice(
                index=0, message=openai.AssistantMessage(content=reply["text"]), finish_reason=reply["finish_reason"]
            )
        ],
        usage=reply["usage"],
    )


@router.post(
    "/{deployment_id}/completions",
    response_model=openai.Completion,
    responses={**STREAM_RESPONSE, **error_responses(NotFound, Conflict, InvalidRequest, ServiceUnavailable)},
)
async def completions(
    deployment_id: IdPath,
    body: openai.CompletionRequest,
    session: SessionDep,
    manager: ManagerDep,
    reader: InputsDep,
    org_id: OrgIdDep,
) -> Any:
    """The deployment's reply to a prompt (taken as one user turn through the model's chat template, as it was
    trained), as OpenAI's completions API gives it."""
    app_name, request = await service.generation(session, reader, org_id, deployment_id, _prompt(body))
    answer_id, created = new_id("cmpl"), int(time.time())
    if body.stream:

        def chunk(delta: str, finish: str | None, usage: dict[str, int] | None) -> dict[str, Any]:
            event = {
                "id": answer_id,
                "object": "text_completion",
                "created": created,
                "model": deployment_id,
                "choices": [{"index": 0, "text": delta, "finish_reason": finish}],
            }
            return event | ({"usage": usage} if usage is not None else {})

        return StreamingResponse(
            _stream(manager, deployment_id, app_name, request, chunk), media_type="text/event-stream"
        )
    [reply] = await manager.predict(deployment_id, app_name, [request])
    return openai.Completion(
        id=answer_id,
        created=created,
        model=deployment_id,
        choices=[openai.CompletionChoice(index=0, text=reply["text"], finish_reason=reply["finish_reason"])],
        usage=reply["usage"],
    )
