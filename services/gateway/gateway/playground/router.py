"""What the gateway meters against a model's free playground quota (per org and model), then forwards to
inference-svc: `POST /v1/models/{id}/playground` (one query each) and batch predictions straight from a model
(one query per row). Every playground answer says how many free queries are left. Both are recorded in
`/v1/usage` under the model's id."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from fastapi import APIRouter, Response, status
from fastapi.responses import StreamingResponse

from automl_common.context import KEY_ID_HEADER, PLAYGROUND_ROWS_HEADER
from automl_common.errors import (
    AutoMLError,
    BadGateway,
    Conflict,
    Forbidden,
    GatewayTimeout,
    InvalidRequest,
    NotFound,
    RateLimited,
    ServiceUnavailable,
    Unauthorized,
    error_responses,
)
from automl_common.http import upstream_error, url_path
from automl_common.ids import IdPath
from automl_proto import inference as schemas
from automl_proto import openai
from gateway.auth import AdminDep, Principal
from gateway.deps import InferenceDep, PlaygroundDep
from gateway.playground.service import REMAINING_HEADER, PlaygroundQuotaExhausted

router = APIRouter()
REMAINING_HEADERS = {REMAINING_HEADER: {"description": "free queries left", "schema": {"type": "integer"}}}


# What either playground endpoint can answer besides its reply: the gateway's own refusals and inference-svc's.
PLAYGROUND_ERRORS = error_responses(
    Unauthorized,
    Forbidden,
    RateLimited,
    NotFound,
    Conflict,
    InvalidRequest,
    PlaygroundQuotaExhausted,
    BadGateway,
    ServiceUnavailable,
    GatewayTimeout,
)


def _forwarded(principal: Principal) -> dict[str, str]:
    return {"Content-Type": "application/json", KEY_ID_HEADER: principal.key_id}


@router.post(
    "/v1/models/{model_id}/playground",
    tags=["playground"],
    response_model=schemas.Output,
    responses=PLAYGROUND_ERRORS | {200: {"headers": REMAINING_HEADERS}},
)
async def playground(
    model_id: IdPath,
    body: schemas.PlaygroundRequest,
    principal: AdminDep,
    quotas: PlaygroundDep,
    inference: InferenceDep,
) -> Response:
    """One prediction from a trained model without deploying it, while its free quota lasts: scores per head and
    class, or an llm's reply. The answer's ``X-Playground-Remaining`` header says how many free queries are left."""
    reservation = quotas.reservation(principal, model_id)
    await reservation.take_one()
    try:
        answer = await inference.request(
            "POST",
            url_path("/internal/playground/{}", model_id),
            org_id=principal.org_id,
            content=body.model_dump_json(exclude_unset=True),
            headers=_forwarded(principal),
        )
    except AutoMLError as error:
        error.headers[REMAINING_HEADER] = str(await reservation.settle(error.status_code))
        raise
    headers = {REMAINING_HEADER: str(await reservation.settle(answer.status_code))}
    if "retry-after" in answer.headers:
        headers["Retry-After"] = answer.headers["retry-after"]
    return Response(answer.content, answer.status_code, headers=headers, media_type="application/json")


@router.post(
    "/v1/models/{model_id}/playground/chat/completions",
    tags=["playground"],
    response_model=openai.ChatCompletion,
    responses={
        200: {
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
            "description": "the reply, whole or (stream: true) as server-sent events",
            "headers": REMAINING_HEADERS,
        },
        **PLAYGROUND_ERRORS,
    },
)
async def playground_chat(
    model_id: IdPath,
    body: openai.ChatCompletionRequest,
    principal: AdminDep,
    quotas: PlaygroundDep,
    inference: InferenceDep,
) -> Response:
    """An llm model's reply to a conversation before it is deployed, as a deployment's chat completions give it
    (``stream: true``: server-sent events as it is generated), while its free quota lasts (one query each)."""
    reservation = quotas.reservation(principal, model_id)
    remaining = await reservation.take_one()
    call = inference.client.build_request(
        "POST",
        url_path("/internal/playground/{}/chat/completions", model_id),
        content=body.model_dump_json(exclude_unset=True),
        headers=inference.headers(principal.org_id, _forwarded(principal)),
    )
    try:
        answer = await inference.client.send(call, stream=True)
    except httpx.TransportError as error:
        failure = upstream_error(error, inference.service)
        failure.headers[REMAINING_HEADER] = str(await reservation.settle(failure.status_code))
        raise failure from error
    content_type = answer.headers.get("content-type", "application/json")
    if answer.status_code >= 400 or not content_type.startswith("text/event-stream"):
        content = await answer.aread()
        await answer.aclose()
        headers = {REMAINING_HEADER: str(await reservation.settle(answer.status_code))}
        return Response(content, answer.status_code, headers=headers, media_type=content_type)

    async def relay() -> AsyncIterator[bytes]:
        try:
            async for chunk in answer.aiter_raw():
                yield chunk
        finally:
            await answer.aclose()
            reservation.meter(answer.status_code)

    return StreamingResponse(relay(), headers={REMAINING_HEADER: str(remaining)}, media_type=content_type)


@router.post(
    "/v1/batch-predictions",
    tags=["batch predictions"],
    status_code=status.HTTP_202_ACCEPTED,
    response_model=schemas.BatchPrediction,
    responses=error_responses(
        Unauthorized, Forbidden, NotFound, Conflict, InvalidRequest, PlaygroundQuotaExhausted, ServiceUnavailable
    ),
)
async def create_batch_prediction(
    body: schemas.BatchPredictionCreate, principal: AdminDep, quotas: PlaygroundDep, inference: InferenceDep
) -> Response:
    """Predict every row of a snapshot or a dataset's text column, with a deployment or straight from a model
    (each row then uses one of the model's free playground queries); runs in the background."""
    reservation = None if body.model_id is None else quotas.reservation(principal, body.model_id)
    if reservation is not None:
        # The batch's size is known once inference-svc has read its source: reserve what is left, let
        # inference-svc refuse a larger batch, and give back what the batch does not use.
        await reservation.take_all()
    try:
        answer = await inference.request(
            "POST",
            "/v1/batch-predictions",
            org_id=principal.org_id,
            content=body.model_dump_json(exclude_unset=True),
            headers={
                "Content-Type": "application/json",
                PLAYGROUND_ROWS_HEADER: str(reservation.reserved if reservation else 0),
            },
        )
    except AutoMLError as error:
        if reservation is not None:
            await reservation.settle(error.status_code, used=0)
        raise
    if reservation is not None:
        used = 0
        if answer.status_code == status.HTTP_202_ACCEPTED:
            used = schemas.BatchPrediction.model_validate_json(answer.content).progress.rows_total or 0
        await reservation.settle(answer.status_code, used=used)
    return Response(answer.content, answer.status_code, media_type="application/json")
