"""The playground's serving side. The gateway owns the public endpoint and its quota; it calls this one."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from automl_common.errors import (
    Conflict,
    InvalidRequest,
    NotFound,
    RateLimited,
    ServiceUnavailable,
    error_responses,
)
from automl_common.ids import IdPath, new_id
from automl_proto import inference as schemas
from automl_proto import openai
from inference_svc.deployments.generation import (
    CHAT,
    STREAM_RESPONSE,
    events,
    max_tokens_given,
    primed,
    prompt_of,
    whole,
)
from inference_svc.deps import InputsDep, PayerDep, ServeCallsDep, TrainerDep
from inference_svc.errors import WrongInputKind
from inference_svc.models_client import model_artifacts
from modelkit import model_types

internal_router = APIRouter(prefix="/internal/playground", tags=["internal"], include_in_schema=False)


@internal_router.post(
    "/{model_id}",
    response_model=schemas.Output,
    responses=error_responses(NotFound, Conflict, InvalidRequest, RateLimited, ServiceUnavailable),
)
async def playground_predict(
    model_id: IdPath,
    body: schemas.PlaygroundRequest,
    trainer: TrainerDep,
    calls: ServeCallsDep,
    reader: InputsDep,
    payer: PayerDep,
) -> schemas.Output:
    """One input on any succeeded model of the org, without a deployment (shared, multiplexed replicas): a
    classifier's scores, or an llm model's reply."""
    org_id = payer.org_id
    artifacts = await model_artifacts(trainer, org_id, model_id)
    values = await reader.read([body.input], artifacts.model_type, max_inputs=1)
    if not model_types.info(artifacts.model_type).can("generates"):  # one forward pass: no replica to hold
        return schemas.output_of((await calls.playground(artifacts, values, payer))[0])
    slots = calls.playground_slots
    slots.take(org_id)
    try:
        outputs = await calls.playground(artifacts, values, payer)
    finally:
        slots.give_back(org_id)
    return schemas.output_of(outputs[0])


@internal_router.post(
    "/{model_id}/chat/completions",
    response_model=openai.ChatCompletion,
    responses={
        **STREAM_RESPONSE,
        **error_responses(NotFound, Conflict, InvalidRequest, RateLimited, ServiceUnavailable),
    },
)
async def playground_chat(
    model_id: IdPath,
    body: openai.ChatCompletionRequest,
    trainer: TrainerDep,
    calls: ServeCallsDep,
    reader: InputsDep,
    payer: PayerDep,
) -> Any:
    """An llm model's reply to a conversation without a deployment, as a deployment's chat completions give it
    (``stream: true``: server-sent events as it is generated; the last one holds the token usage)."""
    org_id = payer.org_id
    artifacts = await model_artifacts(trainer, org_id, model_id)
    if model_types.info(artifacts.model_type).input_kind != "chat":
        raise WrongInputKind(f"model {model_id!r} is a {artifacts.model_type} model, which does not generate text")
    request = reader.prompt(0, prompt_of(body), artifacts.model_type, max_tokens_given=max_tokens_given(body))
    head = {"id": new_id(CHAT.id_prefix), "created": int(time.time()), "model": model_id}
    slots = calls.playground_slots
    slots.take(org_id)
    if body.stream:
        try:
            replies = await primed(calls.playground_stream(artifacts, request, payer))
        except BaseException:
            slots.give_back(org_id)
            raise
        return StreamingResponse(slots.held_while(org_id, events(CHAT, head, replies)), media_type="text/event-stream")
    try:
        [reply] = await calls.playground(artifacts, [request], payer)
    finally:
        slots.give_back(org_id)
    return whole(CHAT, head, reply)
