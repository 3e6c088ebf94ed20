"""Batch predictions: checked when made (the model or deployment, the snapshot or dataset and its text column,
the row limit), then run in the background by ``BatchRunner``."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from automl_common.clients import DatasetsClient, SnapshotsClient
from automl_common.db import utcnow
from automl_common.errors import InvalidRequest
from automl_common.http import InternalClient
from automl_common.ids import new_id
from automl_common.quotas import enforce_org_quota
from automl_common.schemas import Page
from automl_common.storage import ObjectStore
from automl_proto import inference as schemas
from automl_proto.training import ReadySnapshot
from inference_svc.batch.repository import BatchRepository
from inference_svc.deployments import service as deployments
from inference_svc.errors import BatchPredictionNotFound, PlaygroundQuotaExhausted, SourceNotFound, SourceNotReady
from inference_svc.inputs import served_type
from inference_svc.models_client import model_artifacts
from inference_svc.settings import InferenceSettings
from inference_svc.tables import BatchPredictionRow
from inference_svc.upstreams import Upstreams


def result_key(org_id: str, batch_id: str, format: str) -> str:
    return f"orgs/{org_id}/batch-predictions/{batch_id}/results.{format}"


async def to_schema(row: BatchPredictionRow, store: ObjectStore) -> schemas.BatchPrediction:
    result_url = None
    if row.status == "succeeded" and row.result_key:
        # A presigned object-store URL where the store makes them; otherwise the download endpoint.
        result_url = await store.presigned_url(row.result_key) or f"/v1/batch-predictions/{row.id}/results"
    return schemas.BatchPrediction(
        id=row.id,
        status=row.status,
        model_id=row.model_id,
        deployment_id=row.deployment_id,
        snapshot_id=row.snapshot_id,
        dataset_id=row.dataset_id,
        format=row.format,
        progress=schemas.BatchProgress(rows_done=row.rows_done, rows_total=row.rows_total),
        result_key=row.result_key,
        result_url=result_url,
        error=row.error,
        created_at=row.created_at,
        finished_at=row.finished_at,
    )


async def snapshot_files(snapshots: InternalClient, org_id: str, snapshot_id: str) -> ReadySnapshot:
    """Where a ready snapshot's rows are (``data_key``), its type and row count: snapshot-svc's answer."""
    return await SnapshotsClient(snapshots).files(
        org_id,
        snapshot_id,
        missing=lambda _: SourceNotFound(f"snapshot_id: snapshot {snapshot_id!r} not found"),
        not_ready=lambda reason: SourceNotReady(f"snapshot_id: {reason}"),
    )


async def _snapshot_rows(snapshots: InternalClient, org_id: str, snapshot_id: str, model_type: str) -> int:
    files = await snapshot_files(snapshots, org_id, snapshot_id)
    if files.type != model_type:
        raise InvalidRequest(f"snapshot_id: a {files.type} snapshot; this model is a {model_type} model")
    return files.row_count


async def _dataset_column(
    datasets: InternalClient, org_id: str, dataset_id: str, wanted: str | None, kind: str
) -> tuple[str, int]:
    """The dataset column of the model's input kind ("text" or "image"): the one named, or its only one."""
    dataset = await DatasetsClient(datasets).dataset(
        org_id, dataset_id, missing=lambda _: SourceNotFound(f"dataset_id: dataset {dataset_id!r} not found")
    )
    if dataset.status != "ready":
        raise SourceNotReady(f"dataset_id: the dataset is {dataset.status}; wait until it is ready")
    types = {column.name: column.type for column in dataset.columns}
    if wanted is not None:
        if wanted not in types:
            raise InvalidRequest(f"input_column: the dataset has no column {wanted!r}")
        if types[wanted] != kind:
            raise InvalidRequest(f"input_column: {wanted!r} is a {types[wanted]} column; the model takes {kind}s")
        return wanted, dataset.row_count
    matching = [name for name, column_type in types.items() if column_type == kind]
    if len(matching) != 1:
        named = ", ".join(repr(name) for name in matching) or "none"
        raise InvalidRequest(f"input_column: the dataset has {len(matching)} {kind} columns ({named}); name one")
    return matching[0], dataset.row_count


async def create_batch(
    session: AsyncSession,
    settings: InferenceSettings,
    upstreams: Upstreams,
    org_id: str,
    request: schemas.BatchPredictionCreate,
    playground_rows_allowed: int = 0,
) -> BatchPredictionRow:
    """``playground_rows_allowed``: the free playground queries the gateway reserved for a batch straight
    from a model (each row uses one); a larger batch is refused."""
    if request.input_column is not None and request.dataset_id is None:
        raise InvalidRequest("input_column: only for a dataset (a snapshot knows its input column)")
    if request.deployment_id is not None:
        deployment = await deployments.get_row(session, org_id, request.deployment_id)
        if deployment.status in ("deleting", "failed"):
            deployments.ready_app(deployment)  # raises the matching error
        artifacts = schemas.ModelArtifacts.model_validate(deployment.artifacts)
    else:
        assert request.model_id is not None
        artifacts = await model_artifacts(upstreams.trainer, org_id, request.model_id)
    kind = served_type(artifacts.model_type).input_kind
    if kind == "chat":
        raise InvalidRequest(
            f"model_id: batch predictions score classification models; a {artifacts.model_type} model generates "
            "replies one request at a time (POST /v1/deployments/{id}/chat/completions)"
        )
    column = None
    if request.snapshot_id is not None:
        rows = await _snapshot_rows(upstreams.snapshots, org_id, request.snapshot_id, artifacts.model_type)
    else:
        assert request.dataset_id is not None
        column, rows = await _dataset_column(upstreams.datasets, org_id, request.dataset_id, request.input_column, kind)
    if rows > settings.batch_max_rows:
        raise InvalidRequest(f"{rows} rows; a batch prediction reads at most {settings.batch_max_rows}")
    if request.deployment_id is None and rows > playground_rows_allowed:
        raise PlaygroundQuotaExhausted(
            f"{rows} rows, and model {artifacts.model_id!r} has {playground_rows_allowed} free playground queries "
            "left (a batch straight from a model uses one per row); deploy the model (POST /v1/deployments) and "
            "give its deployment_id"
        )
    repository = BatchRepository(session)
    await enforce_org_quota(
        session,
        BatchPredictionRow,
        org_id,
        used=lambda: repository.count_active(org_id),
        adding=1,
        limit=settings.max_active_batches_per_org,
        what="batch predictions (queued or running)",
        setting="AUTOML_INFERENCE_MAX_ACTIVE_BATCHES_PER_ORG",
    )
    row = BatchPredictionRow(
        id=new_id("batch"),
        org_id=org_id,
        model_id=artifacts.model_id,
        deployment_id=request.deployment_id,
        snapshot_id=request.snapshot_id,
        dataset_id=request.dataset_id,
        input_column=column,
        format=request.format,
        status="queued",
        artifacts=artifacts.model_dump(),
        rows_done=0,
        rows_total=rows,
        created_at=utcnow(),
    )
    return await BatchRepository(session).add(row)


async def get_batch(session: AsyncSession, org_id: str, batch_id: str) -> BatchPredictionRow:
    row = await BatchRepository(session).get_in_org(org_id, batch_id)
    if row is None:
        raise BatchPredictionNotFound(f"batch prediction {batch_id!r} not found")
    return row


async def list_batches(
    session: AsyncSession, store: ObjectStore, org_id: str, *, limit: int, after: str | None
) -> Page[schemas.BatchPrediction]:
    rows, next_cursor = await BatchRepository(session).page_for_org(org_id, limit=limit, after=after)
    return Page[schemas.BatchPrediction](items=[await to_schema(row, store) for row in rows], next=next_cursor)
