from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Response, status
from fastapi.responses import PlainTextResponse, StreamingResponse

from automl_common.auth import OrgIdDep
from automl_common.db import after_commit
from automl_common.deps import PageDep, SessionDep, StoreDep
from automl_common.errors import (
    BadGateway,
    Conflict,
    InvalidRequest,
    NotFound,
    RateLimited,
    ServiceUnavailable,
    Unauthorized,
    error_responses,
)
from automl_common.ids import IdPath
from automl_common.quotas import OrgQuotaExceeded
from automl_common.responses import object_response
from automl_common.schemas import Page
from automl_proto import models as schemas
from automl_proto.inference import ModelArtifacts
from automl_proto.metrics import ModelMetrics
from automl_proto.training import JobEvent, JobEventAnswer
from trainer_svc.deps import DispatcherDep, ExporterDep, SnapshotsDep, TrainerSettingsDep
from trainer_svc.models import results, service, worker_events
from trainer_svc.models.export import ExportFormat
from trainer_svc.models.repository import ModelRepository

router = APIRouter(prefix="/v1/models", tags=["models"])
# Not behind the internal token: the worker authenticates with its job's own token.
jobs_router = APIRouter(prefix="/jobs", tags=["internal"], include_in_schema=False)
internal_router = APIRouter(prefix="/internal/models", tags=["internal"], include_in_schema=False)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.Model,
    responses=error_responses(NotFound, Conflict, InvalidRequest, OrgQuotaExceeded, BadGateway, ServiceUnavailable),
)
async def create_model(
    body: schemas.ModelCreate,
    session: SessionDep,
    snapshots: SnapshotsDep,
    dispatcher: DispatcherDep,
    settings: TrainerSettingsDep,
    org_id: OrgIdDep,
) -> schemas.Model:
    """Start a training run: every input is checked now; the run waits queued for a free job slot."""
    model = await service.create_model(session, snapshots, org_id, body, service.RunLimits.of(settings))
    after_commit(session, dispatcher.wake)
    return service.to_schema(model)


@router.get("", response_model=Page[schemas.Model], responses=error_responses(InvalidRequest))
async def list_models(session: SessionDep, org_id: OrgIdDep, page: PageDep) -> Page[schemas.Model]:
    """The org's models, newest first, a page at a time."""
    return await service.list_models(session, org_id, limit=page.limit, after=page.after)


@router.get("/{model_id}", response_model=schemas.Model, responses=error_responses(NotFound))
async def get_model(model_id: IdPath, session: SessionDep, org_id: OrgIdDep) -> schemas.Model:
    """One model: its status, live progress while it trains (step, epoch, loss, ETA) and a summary of its metrics."""
    return service.to_schema(await service.get_model_row(session, org_id, model_id))


@router.get("/{model_id}/events", response_model=Page[schemas.ModelEvent], responses=error_responses(NotFound))
async def list_events(
    model_id: IdPath,
    session: SessionDep,
    org_id: OrgIdDep,
    settings: TrainerSettingsDep,
    after: Annotated[int, Query(ge=0, description="the last event's seq seen: the events after it")] = 0,
    limit: Annotated[int, Query(ge=1, le=5000, description="events per page")] = 500,
) -> Page[schemas.ModelEvent]:
    """The run's events in order; pass the last ``seq`` seen as ``after`` to follow it."""
    await service.get_model_row(session, org_id, model_id)
    rows = await ModelRepository(session).events(model_id, after=after, limit=min(limit, settings.max_events_page))
    items = [
        schemas.ModelEvent(seq=row.seq, kind=row.kind, message=row.message, data=row.data, created_at=row.created_at)
        for row in rows
    ]
    return Page(items=items, next=str(items[-1].seq) if len(items) == limit else None)


@router.post("/{model_id}/cancel", response_model=schemas.Model, responses=error_responses(NotFound, Conflict))
async def cancel_model(
    model_id: IdPath, session: SessionDep, dispatcher: DispatcherDep, org_id: OrgIdDep
) -> schemas.Model:
    """Stop the run: marked cancelled at once; its worker is stopped within the grace period."""
    model = await service.request_cancel(session, org_id, model_id)
    dispatcher.metrics.ended(model_id, "cancelled")
    after_commit(session, dispatcher.wake)
    return service.to_schema(model)


@router.delete(
    "/{model_id}", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(NotFound, Conflict, BadGateway)
)
async def delete_model(
    model_id: IdPath,
    session: SessionDep,
    snapshots: SnapshotsDep,
    store: StoreDep,
    dispatcher: DispatcherDep,
    org_id: OrgIdDep,
) -> Response:
    """Delete the model, its artifacts and its events; a running job is stopped first. A model that a
    deployment serves is not deleted (409)."""
    model = await service.get_model_row(session, org_id, model_id)
    if model.job_handle is not None:
        await dispatcher.cancel_job(model.job_handle)
    await service.delete_model(session, snapshots, store, org_id, model_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{model_id}/metrics",
    response_model=ModelMetrics,
    response_model_exclude_unset=True,  # a block a model type does not have is left out, not null
    responses=error_responses(NotFound, Conflict, InvalidRequest),
)
async def get_metrics(
    model_id: IdPath,
    session: SessionDep,
    store: StoreDep,
    org_id: OrgIdDep,
    threshold: Annotated[
        float | None,
        Query(gt=0, lt=1, description="every figure (the baseline's and the improvement too) at this cut-off"),
    ] = None,
    threshold_class: Annotated[
        str | None,
        Query(max_length=200, description="apply the threshold to this class of `head` only, as an operating point"),
    ] = None,
    head: Annotated[str | None, Query(max_length=200, description="only this head")] = None,
) -> ModelMetrics:
    """Per head and class, overall, against the baseline, per epoch. With ``threshold`` every figure is
    recomputed at that cut-off (accuracy, the confusion matrix, the baseline and the improvement included):
    a single-label head predicts the top class that reaches its cut-off, as a deployment's operating point does;
    with ``threshold_class`` only that class has a cut-off, the others being decided by score."""
    model = await service.get_model_row(session, org_id, model_id)
    if threshold_class is not None and threshold is None:
        raise InvalidRequest("threshold_class: give the threshold it is for")
    cut_offs = None if threshold is None else results.CutOffs(threshold, threshold_class, head)
    return await results.metrics(store, model, cut_offs, head)


@router.get("/{model_id}/card", response_class=PlainTextResponse, responses=error_responses(NotFound, Conflict))
async def get_card(model_id: IdPath, session: SessionDep, store: StoreDep, org_id: OrgIdDep) -> PlainTextResponse:
    """The model card (markdown): how the model was made, its figures against the baseline, and its limitations."""
    model = await service.get_model_row(session, org_id, model_id)
    return PlainTextResponse(await results.card(store, model), media_type="text/markdown; charset=utf-8")


@router.get(
    "/{model_id}/export",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/x-tar": {"schema": {"type": "string", "format": "binary"}}}},
        **error_responses(NotFound, Conflict, InvalidRequest, RateLimited, ServiceUnavailable),
    },
)
async def export_model(
    model_id: IdPath,
    session: SessionDep,
    store: StoreDep,
    exporter: ExporterDep,
    org_id: OrgIdDep,
    format: Annotated[ExportFormat, Query(description="merged: one safetensors model; adapter: LoRA's")] = "merged",
) -> StreamingResponse:
    """An llm model as a tar of one folder that plain transformers loads (``from_pretrained``): the weights
    with the adapter merged in (or the adapter alone), the tokenizer and its chat template. The first call
    builds it; later ones stream the stored copy."""
    key = await exporter.export(session, org_id, model_id, format)
    return await object_response(store, key, "application/x-tar", filename=f"{model_id}-{format}.tar")


@jobs_router.post("/{model_id}/events", response_model=JobEventAnswer, responses=error_responses(Unauthorized))
async def post_event(
    model_id: IdPath,
    event: JobEvent,
    session: SessionDep,
    dispatcher: DispatcherDep,
    authorization: Annotated[str, Header()] = "",
) -> JobEventAnswer:
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("a job token is required")
    answer = await worker_events.record(session, model_id, token, event, dispatcher.metrics)
    if event.kind in ("succeeded", "failed", "cancelled"):
        after_commit(session, dispatcher.wake)  # a slot is free once the outcome is stored
    return answer


@internal_router.get(
    "/{model_id}/artifacts", response_model=ModelArtifacts, responses=error_responses(NotFound, Conflict)
)
async def model_artifacts(model_id: IdPath, session: SessionDep, org_id: OrgIdDep) -> ModelArtifacts:
    """inference-svc: where a succeeded model's files are."""
    return await service.artifacts_of(session, org_id, model_id)


@internal_router.put("/{model_id}/references/{deployment_id}", status_code=status.HTTP_204_NO_CONTENT)
async def add_reference(model_id: IdPath, deployment_id: IdPath, session: SessionDep, org_id: OrgIdDep) -> Response:
    """inference-svc: a deployment now serves this model (it cannot be deleted until the deployment is)."""
    await service.add_deployment_reference(session, org_id, model_id, deployment_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@internal_router.delete("/{model_id}/references/{deployment_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_reference(model_id: IdPath, deployment_id: IdPath, session: SessionDep, org_id: OrgIdDep) -> Response:
    await service.remove_deployment_reference(session, org_id, model_id, deployment_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
