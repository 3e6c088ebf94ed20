"""Deployments: made from a succeeded model, scaled, deleted; predict calls checked and sent to Serve."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from automl_common.db import release, utcnow
from automl_common.errors import AutoMLError, BadGateway, InvalidRequest
from automl_common.http import InternalClient, url_path
from automl_common.ids import new_id
from automl_common.quotas import enforce_org_quota
from automl_common.schemas import Page
from automl_proto import inference as schemas
from automl_proto.inference import PromptInput
from inference_svc.deployments import operating_point
from inference_svc.deployments.calls import Route, ServeCalls
from inference_svc.deployments.repository import DeploymentRepository
from inference_svc.errors import (
    DeploymentFailed,
    DeploymentNotFound,
    DeploymentNotReady,
    ModelNotFound,
    WrongInputKind,
)
from inference_svc.inputs import InputReader, served_type
from inference_svc.models_client import model_artifacts
from inference_svc.settings import InferenceSettings
from inference_svc.tables import DeploymentRow
from inference_svc.usage.meter import Payer
from modelkit import model_types

_SCALING = ("min_replicas", "max_replicas", "target_ongoing_requests", "max_batch_size", "batch_wait_timeout_ms")


def to_schema(row: DeploymentRow) -> schemas.Deployment:
    replicas = {"running": 0, "starting": 0, "stopping": 0, **(row.replicas or {})}
    return schemas.Deployment(
        id=row.id,
        name=row.name,
        model_id=row.model_id,
        model_type=row.model_type,
        share_base=row.share_base,
        status=row.status,
        replicas=schemas.Replicas(**replicas),
        operating_point=schemas.OperatingPoint(
            thresholds=(row.operating_point or {}).get("thresholds", {}),
            version=row.operating_point_version or 0,
            updated_at=row.operating_point_updated_at,
        ),
        min_replicas=row.min_replicas,
        max_replicas=row.max_replicas,
        target_ongoing_requests=row.target_ongoing_requests,
        max_batch_size=row.max_batch_size,
        batch_wait_timeout_ms=row.batch_wait_timeout_ms,
        error=row.error,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def shares_base(artifacts: schemas.ModelArtifacts) -> bool:
    """Whether the model can be served from its base model's shared replicas: a LoRA llm (its adapter) or a
    last-layer classifier (its heads)."""
    line = served_type(artifacts.model_type)
    return (line.can("shares_base") and artifacts.method == "lora") or shares_encoder(artifacts)


def shares_encoder(artifacts: schemas.ModelArtifacts) -> bool:
    """Whether the model is a classifier whose encoder is its base model's, frozen: its heads are all it adds."""
    return served_type(artifacts.model_type).can("shares_encoder") and artifacts.method == "last_layer"


def _check_replicas(max_replicas: int, settings: InferenceSettings) -> None:
    if max_replicas > settings.max_replicas_per_deployment:
        raise InvalidRequest(
            f"max_replicas: {max_replicas} is above this platform's limit of {settings.max_replicas_per_deployment}"
        )


async def _enforce_replicas(
    session: AsyncSession, settings: InferenceSettings, org_id: str, max_replicas: int, excluding: str | None = None
) -> None:
    """Replicas are bounded per org by the sum of its deployments' ``max_replicas`` (what autoscaling may
    reach), so one tenant cannot take the cluster by scaling up."""
    repository = DeploymentRepository(session)
    await enforce_org_quota(
        session,
        DeploymentRow,
        org_id,
        used=lambda: repository.max_replicas_of_org(org_id, excluding),
        adding=max_replicas,
        limit=settings.max_replicas_per_org,
        what="replicas (the sum of max_replicas)",
        setting="AUTOML_INFERENCE_MAX_REPLICAS_PER_ORG",
    )


async def get_row(session: AsyncSession, org_id: str, deployment_id: str) -> DeploymentRow:
    row = await DeploymentRepository(session).get_in_org(org_id, deployment_id)
    if row is None:
        raise DeploymentNotFound(f"deployment {deployment_id!r} not found")
    return row


async def create_deployment(
    session: AsyncSession,
    trainer: InternalClient,
    settings: InferenceSettings,
    calls: ServeCalls,
    org_id: str,
    request: schemas.DeploymentCreate,
) -> DeploymentRow:
    _check_replicas(request.max_replicas, settings)
    artifacts = await model_artifacts(trainer, org_id, request.model_id)
    repository = DeploymentRepository(session)
    await enforce_org_quota(
        session,
        DeploymentRow,
        org_id,
        used=lambda: repository.count_live(org_id),
        adding=1,
        limit=settings.max_deployments_per_org,
        what="deployments",
        setting="AUTOML_INFERENCE_MAX_DEPLOYMENTS_PER_ORG",
    )
    await _enforce_replicas(session, settings, org_id, request.max_replicas)
    share = request.share_base
    if share is None:
        share = settings.share_classifiers_by_default and shares_encoder(artifacts)
    elif share and not shares_base(artifacts):
        raise InvalidRequest(
            f"share_base: only LoRA llm models and last-layer classifiers share a base model; "
            f"{request.model_id!r} is a {artifacts.method} {artifacts.model_type} model"
        )
    deployment_id = new_id("dep")
    now = utcnow()
    row = DeploymentRow(
        id=deployment_id,
        org_id=org_id,
        name=request.name,
        model_id=artifacts.model_id,
        model_type=artifacts.model_type,
        app_name=calls.app_name(deployment_id),
        share_base=share,
        serve_app=calls.shared_app_name(org_id, artifacts.base_model_sha256) if share else None,
        status="deploying",
        artifacts=artifacts.model_dump(),
        generation=1,
        replicas={},
        created_at=now,
        updated_at=now,
        **request.model_dump(include=set(_SCALING)),
    )
    added = await DeploymentRepository(session).add(row)
    # trainer-svc keeps the model while a deployment serves it; refused or unreachable, nothing is created.
    response = await trainer.request(
        "PUT", url_path("/internal/models/{}/references/{}", artifacts.model_id, deployment_id), org_id=org_id
    )
    if response.status_code == 404:
        raise ModelNotFound(f"model_id: model {request.model_id!r} not found")
    if response.status_code >= 400:
        raise BadGateway(f"trainer-svc refused to record the deployment: HTTP {response.status_code}")
    return added


async def list_deployments(
    session: AsyncSession, org_id: str, *, limit: int, after: str | None
) -> Page[schemas.Deployment]:
    rows, next_cursor = await DeploymentRepository(session).page_for_org(org_id, limit=limit, after=after)
    return Page[schemas.Deployment](items=[to_schema(row) for row in rows], next=next_cursor)


async def update_deployment(
    session: AsyncSession,
    settings: InferenceSettings,
    trainer: InternalClient,
    org_id: str,
    deployment_id: str,
    request: schemas.DeploymentUpdate,
) -> tuple[DeploymentRow, bool]:
    """Apply the change; True when Serve must be told (scaling or batching changed). A new operating point
    is checked against the model's heads and classes and versioned; it needs no new replicas."""
    row = await get_row(session, org_id, deployment_id)
    if row.status == "deleting":
        raise DeploymentNotFound(f"deployment {deployment_id!r} is being deleted")
    changes = request.model_dump(exclude_unset=True, exclude_none=True)
    current = {field: getattr(row, field) for field in _SCALING}
    try:
        merged = schemas.Scaling(**current | {k: v for k, v in changes.items() if k in _SCALING})
    except ValidationError as e:
        raise InvalidRequest("; ".join(str(error["msg"]).removeprefix("Value error, ") for error in e.errors())) from e
    _check_replicas(merged.max_replicas, settings)
    if merged.max_replicas > row.max_replicas:
        await _enforce_replicas(session, settings, org_id, merged.max_replicas, excluding=row.id)
    if "name" in changes:
        row.name = changes["name"]
    if request.operating_point is not None:
        row.operating_point = await operating_point.checked(trainer, org_id, row.model_id, request.operating_point)
        row.operating_point_version = (row.operating_point_version or 0) + 1
        row.operating_point_updated_at = utcnow()
    redeploy = any(getattr(row, field) != getattr(merged, field) for field in _SCALING) or row.status == "failed"
    if redeploy:
        for field in _SCALING:
            setattr(row, field, getattr(merged, field))
        row.status, row.error = "deploying", None
        row.generation += 1
    row.updated_at = utcnow()
    await DeploymentRepository(session).flush()
    return row, redeploy


async def mark_deleting(session: AsyncSession, org_id: str, deployment_id: str) -> DeploymentRow:
    row = await get_row(session, org_id, deployment_id)
    row.status, row.updated_at = "deleting", utcnow()
    await DeploymentRepository(session).flush()
    return row


async def predict(
    session: AsyncSession,
    calls: ServeCalls,
    reader: InputReader,
    payer: Payer,
    deployment_id: str,
    request: schemas.PredictRequest,
) -> schemas.PredictResponse:
    row = await get_row(session, payer.org_id, deployment_id)
    model_type = row.model_type
    try:
        route, not_serving = ready_app(row), None
    except AutoMLError as e:
        route, not_serving = Route(""), e
    await release(session)  # no transaction held while images are fetched or the model answers
    values = await reader.read(request.inputs, model_type)  # bad inputs are named before "not ready"
    if not_serving is not None:
        raise not_serving
    outputs = await calls.predict(deployment_id, route, values, payer)
    return schemas.PredictResponse.model_validate({"outputs": outputs})


async def generation(
    session: AsyncSession,
    reader: InputReader,
    org_id: str,
    deployment_id: str,
    request: PromptInput,
    max_tokens_given: bool | None = None,
) -> tuple[Route, dict[str, Any]]:
    """Where an llm deployment that can answer now is served, and the request as its replicas take it."""
    row = await get_row(session, org_id, deployment_id)
    try:
        route, not_serving = ready_app(row), None
    except AutoMLError as e:
        route, not_serving = Route(""), e
    await release(session)  # none held while the model generates
    if model_types.info(row.model_type).input_kind != "chat":
        raise WrongInputKind(
            f"deployment {deployment_id!r} serves a {row.model_type} model, which does not generate text; "
            "call its /predict"
        )
    value = reader.prompt(0, request, row.model_type, max_tokens_given=max_tokens_given)
    if not_serving is not None:
        raise not_serving
    return route, value


def ready_app(row: DeploymentRow) -> Route:
    if row.status == "deleting":
        raise DeploymentNotFound(f"deployment {row.id!r} is being deleted")
    if row.status == "failed":
        raise DeploymentFailed(f"deployment {row.id!r} failed: {row.error}; update it to try again")
    # While an update rolls out, the replicas already running keep answering.
    serving = row.status == "deploying" and (row.replicas or {}).get("running", 0) > 0
    if row.status != "ready" and not serving:
        raise DeploymentNotReady(f"deployment {row.id!r} is still deploying; retry after the time in Retry-After")
    shared = schemas.ModelArtifacts.model_validate(row.artifacts) if row.share_base else None
    return Route(row.serving_app, shared, operating_point.Rule.of(row.operating_point))
