"""`POST /v1/models/{id}/playground`: the gateway meters it (a free quota per org and model) and inference-svc
answers it from the shared playground app. Every answer says how many free queries are left."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from automl_common.errors import (
    AutoMLError,
    Forbidden,
    InvalidRequest,
    NotFound,
    RateLimited,
    Unauthorized,
    error_responses,
)
from automl_common.http import InternalClient
from gateway.auth import AdminDep
from gateway.playground import quota
from gateway.settings import GatewaySettings

router = APIRouter(tags=["playground"])
REMAINING_HEADER = "X-Playground-Remaining"


class PlaygroundQuotaExhausted(AutoMLError):
    status_code = 429


@router.post(
    "/v1/models/{model_id}/playground",
    responses=error_responses(Unauthorized, Forbidden, RateLimited, NotFound, InvalidRequest, PlaygroundQuotaExhausted),
)
async def playground(model_id: str, request: Request, principal: AdminDep) -> Response:
    """One prediction from a trained model without deploying it, while its free quota lasts."""
    settings: GatewaySettings = request.app.state.settings
    database = request.app.state.database
    limit = settings.playground_quota
    async with database.session() as session:
        remaining = await quota.take(session, principal.org_id, model_id, limit)
    if remaining is None:
        raise PlaygroundQuotaExhausted(
            f"the {limit} free playground queries of model {model_id!r} are used up; deploy the model "
            "(POST /v1/deployments) to keep predicting",
            headers={REMAINING_HEADER: "0"},
        )
    inference: InternalClient = request.app.state.inference
    try:
        answer = await inference.request(
            "POST",
            f"/internal/playground/{model_id}",
            org_id=principal.org_id,
            content=await request.body(),
            headers={"Content-Type": "application/json"},
        )
    except AutoMLError as error:
        async with database.session() as session:
            remaining = await quota.give_back(session, principal.org_id, model_id, limit)
        error.headers[REMAINING_HEADER] = str(remaining)
        raise
    if answer.status_code >= 400:  # not answered: the query is not counted
        async with database.session() as session:
            remaining = await quota.give_back(session, principal.org_id, model_id, limit)
    headers = {REMAINING_HEADER: str(remaining)}
    if "retry-after" in answer.headers:
        headers["Retry-After"] = answer.headers["retry-after"]
    return Response(answer.content, answer.status_code, headers=headers, media_type="application/json")
