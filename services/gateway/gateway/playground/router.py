"""What the gateway meters against a model's free playground quota (per org and model), then forwards to
inference-svc: `POST /v1/models/{id}/playground` (one query each) and batch predictions straight from a model
(one query per row). Every playground answer says how many free queries are left. Both are recorded in
`/v1/usage` under the model's id."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
from fastapi import APIRouter, Request, Response, status
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
from automl_common.http import InternalClient, upstream_error, url_path
from automl_common.ids import IdPath
from automl_proto import inference as schemas
from automl_proto import openai
from gateway.auth import AdminDep, Principal
from gateway.playground import quota
from gateway.settings import GatewaySettings
from gateway.usage.meter import UsageMeter

router = APIRouter()
REMAINING_HEADER = "X-Playground-Remaining"
REMAINING_HEADERS = {REMAINING_HEADER: {"description": "free queries left", "schema": {"type": "integer"}}}


class PlaygroundQuotaExhausted(AutoMLError):
    status_code = 429


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


def _exhausted(request: Request, limit: int, model_id: str) -> PlaygroundQuotaExhausted:
    request.app.state.playground_exhausted.inc()
    return PlaygroundQuotaExhausted(
        f"the {limit} free playground queries of model {model_id!r} are used up; deploy the model "
        "(POST /v1/deployments) to keep predicting",
        headers={REMAINING_HEADER: "0"},
    )


def _meter(request: Request, principal: Principal, model_id: str, status_code: int, began: float, count: int) -> None:
    """The call in ``/v1/usage`` (an llm's tokens are counted by inference-svc, which generates them)."""
    meter: UsageMeter = request.app.state.usage_meter
    latency_ms = (time.perf_counter() - began) * 1000
    meter.record(principal.org_id, model_id, principal.key_id, status_code, latency_ms, count)


def _spent(status_code: int) -> bool:
    """Whether a playground query is used up: answered, or timed out (its generation may have run, on the
    shared replica, until its deadline). A refusal (4xx), or a model that could not be reached or could not
    answer (502, 503), gives the query back."""
    return status_code < 400 or status_code == 504


def _forwarded(principal: Principal) -> dict[str, str]:
    return {"Content-Type": "application/json", KEY_ID_HEADER: principal.key_id}


@router.post(
    "/v1/models/{model_id}/playground",
    tags=["playground"],
    response_model=schemas.Output,
    responses=PLAYGROUND_ERRORS | {200: {"headers": REMAINING_HEADERS}},
)
async def playground(
    model_id: IdPath, body: schemas.PlaygroundRequest, request: Request, principal: AdminDep
) -> Response:
    """One prediction from a trained model without deploying it, while its free quota lasts: scores per head and
    class, or an llm's reply. The answer's ``X-Playground-Remaining`` header says how many free queries are left."""
    settings: GatewaySettings = request.app.state.settings
    database = request.app.state.database
    limit = settings.playground_quota
    began = time.perf_counter()
    async with database.session() as session:
        remaining = await quota.take(session, principal.org_id, model_id, limit)
    if remaining is None:
        raise _exhausted(request, limit, model_id)
    inference: InternalClient = request.app.state.inference
    try:
        answer = await inference.request(
            "POST",
            url_path("/internal/playground/{}", model_id),
            org_id=principal.org_id,
            content=body.model_dump_json(exclude_unset=True),
            headers=_forwarded(principal),
        )
    except AutoMLError as error:
        if not _spent(error.status_code):
            async with database.session() as session:
                remaining = await quota.give_back(session, principal.org_id, model_id, limit)
        error.headers[REMAINING_HEADER] = str(remaining)
        _meter(request, principal, model_id, error.status_code, began, 1)
        raise
    if not _spent(answer.status_code):
        async with database.session() as session:
            remaining = await quota.give_back(session, principal.org_id, model_id, limit)
            if answer.status_code == 404:
                await quota.forget_unused(session, principal.org_id, model_id)
    if answer.status_code != 404:  # an unknown model is nobody's usage
        _meter(request, principal, model_id, answer.status_code, began, 1)
    headers = {REMAINING_HEADER: str(remaining)}
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
    model_id: IdPath, body: openai.ChatCompletionRequest, request: Request, principal: AdminDep
) -> Response:
    """An llm model's reply to a conversation before it is deployed, as a deployment's chat completions give it
    (``stream: true``: server-sent events as it is generated), while its free quota lasts (one query each)."""
    settings: GatewaySettings = request.app.state.settings
    database = request.app.state.database
    limit = settings.playground_quota
    began = time.perf_counter()
    async with database.session() as session:
        remaining = await quota.take(session, principal.org_id, model_id, limit)
    if remaining is None:
        raise _exhausted(request, limit, model_id)
    inference: InternalClient = request.app.state.inference
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
        if not _spent(failure.status_code):
            async with database.session() as session:
                remaining = await quota.give_back(session, principal.org_id, model_id, limit)
        failure.headers[REMAINING_HEADER] = str(remaining)
        _meter(request, principal, model_id, failure.status_code, began, 1)
        raise failure from error
    content_type = answer.headers.get("content-type", "application/json")
    headers = {REMAINING_HEADER: str(remaining)}
    if answer.status_code >= 400 or not content_type.startswith("text/event-stream"):
        content = await answer.aread()
        await answer.aclose()
        if not _spent(answer.status_code):
            async with database.session() as session:
                headers[REMAINING_HEADER] = str(await quota.give_back(session, principal.org_id, model_id, limit))
                if answer.status_code == 404:
                    await quota.forget_unused(session, principal.org_id, model_id)
        if answer.status_code != 404:
            _meter(request, principal, model_id, answer.status_code, began, 1)
        return Response(content, answer.status_code, headers=headers, media_type=content_type)

    async def relay() -> AsyncIterator[bytes]:
        try:
            async for chunk in answer.aiter_raw():
                yield chunk
        finally:
            await answer.aclose()
            _meter(request, principal, model_id, answer.status_code, began, 1)

    return StreamingResponse(relay(), headers=headers, media_type=content_type)


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
    body: schemas.BatchPredictionCreate, request: Request, principal: AdminDep
) -> Response:
    """Predict every row of a snapshot or a dataset's text column, with a deployment or straight from a model
    (each row then uses one of the model's free playground queries); runs in the background."""
    settings: GatewaySettings = request.app.state.settings
    database = request.app.state.database
    inference: InternalClient = request.app.state.inference
    began = time.perf_counter()
    reserved = 0
    if body.model_id is not None:
        # The batch's size is known once inference-svc has read its source: reserve what is left, let
        # inference-svc refuse a larger batch, and give back what the batch does not use.
        async with database.session() as session:
            reserved = await quota.take_all(session, principal.org_id, body.model_id, settings.playground_quota)
        if reserved == 0:
            raise _exhausted(request, settings.playground_quota, body.model_id)
    used = 0
    answer: httpx.Response | None = None
    try:
        answer = await inference.request(
            "POST",
            "/v1/batch-predictions",
            org_id=principal.org_id,
            content=body.model_dump_json(exclude_unset=True),
            headers={"Content-Type": "application/json", PLAYGROUND_ROWS_HEADER: str(reserved)},
        )
        if answer.status_code == status.HTTP_202_ACCEPTED and body.model_id is not None:
            used = schemas.BatchPrediction.model_validate_json(answer.content).progress.rows_total or 0
    finally:
        if body.model_id is not None:
            async with database.session() as session:
                await quota.give_back_many(
                    session, principal.org_id, body.model_id, reserved - used, settings.playground_quota
                )
                if answer is not None and answer.status_code == 404:
                    await quota.forget_unused(session, principal.org_id, body.model_id)
    if body.model_id is not None and answer.status_code != 404:
        _meter(request, principal, body.model_id, answer.status_code, began, max(used, 1))
    return Response(answer.content, answer.status_code, media_type="application/json")
