from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from fastapi.responses import StreamingResponse

from automl_common.auth import OrgIdDep
from automl_common.db import after_commit
from automl_common.deps import PageDep, SessionDep, StoreDep
from automl_common.errors import BadGateway, Conflict, InvalidRequest, NotFound, ServiceUnavailable, error_responses
from automl_common.ids import IdPath, IdQuery
from automl_common.quotas import OrgQuotaExceeded
from automl_common.responses import file_responses, object_response
from automl_common.schemas import Page
from automl_proto import snapshots as schemas
from automl_proto.training import ReadySnapshot
from snapshot_svc.deps import BuilderDep, DatasetsDep, SnapshotSettingsDep
from snapshot_svc.snapshots import service

PARQUET = "application/vnd.apache.parquet"
router = APIRouter(prefix="/v1/snapshots", tags=["snapshots"])
internal_router = APIRouter(prefix="/internal/snapshots", tags=["internal"], include_in_schema=False)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.Snapshot,
    responses=error_responses(NotFound, Conflict, InvalidRequest, OrgQuotaExceeded, BadGateway, ServiceUnavailable),
)
async def create_snapshot(
    body: schemas.SnapshotCreate,
    session: SessionDep,
    datasets: DatasetsDep,
    settings: SnapshotSettingsDep,
    builder: BuilderDep,
    org_id: OrgIdDep,
) -> schemas.Snapshot:
    """Freeze a dataset (with a confirmed mapping) into an immutable, validated export; built in the background."""
    snapshot = await service.create_snapshot(session, datasets, settings, org_id, body)
    after_commit(session, partial(builder.schedule, snapshot.id))
    return service.to_schema(snapshot)


@router.get("", response_model=Page[schemas.Snapshot], responses=error_responses(InvalidRequest))
async def list_snapshots(session: SessionDep, org_id: OrgIdDep, page: PageDep) -> Page[schemas.Snapshot]:
    """The org's snapshots, newest first, a page at a time."""
    return await service.list_snapshots(session, org_id, limit=page.limit, after=page.after)


@router.get("/{snapshot_id}", response_model=schemas.Snapshot, responses=error_responses(NotFound))
async def get_snapshot(snapshot_id: IdPath, session: SessionDep, org_id: OrgIdDep) -> schemas.Snapshot:
    """One snapshot: its status, class counts per head, invalid rows by reason, duplicates and statistics."""
    return service.to_schema(await service.get_snapshot_row(session, org_id, snapshot_id))


@router.delete("/{snapshot_id}", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(NotFound, Conflict))
async def delete_snapshot(
    snapshot_id: IdPath,
    session: SessionDep,
    store: StoreDep,
    datasets: DatasetsDep,
    builder: BuilderDep,
    org_id: OrgIdDep,
) -> Response:
    """Delete a snapshot; 409 while a model uses it."""
    await service.get_snapshot_row(session, org_id, snapshot_id)
    await builder.cancel(snapshot_id)
    await service.delete_snapshot(session, store, datasets, org_id, snapshot_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{snapshot_id}/invalid-rows",
    response_model=Page[schemas.InvalidRow],
    responses=error_responses(NotFound, InvalidRequest),
)
async def list_invalid_rows(
    snapshot_id: IdPath, session: SessionDep, org_id: OrgIdDep, page: PageDep
) -> Page[schemas.InvalidRow]:
    """The dataset rows left out of the snapshot, each with its reasons."""
    return await service.list_invalid_rows(session, org_id, snapshot_id, limit=page.limit, after=page.after)


@router.post(
    "/{snapshot_id}/splits",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.Split,
    responses=error_responses(NotFound, Conflict, InvalidRequest),
)
async def create_split(
    snapshot_id: IdPath, body: schemas.SplitCreate, session: SessionDep, store: StoreDep, org_id: OrgIdDep
) -> schemas.Split:
    """A deterministic stratified train/test split (same seed and percentage, same split)."""
    return service.split_schema(await service.create_split(session, store, org_id, snapshot_id, body))


@router.get("/{snapshot_id}/splits/{split_id}", response_model=schemas.Split, responses=error_responses(NotFound))
async def get_split(snapshot_id: IdPath, split_id: IdPath, session: SessionDep, org_id: OrgIdDep) -> schemas.Split:
    """One train/test split of a snapshot: its seed, share and class counts in each part."""
    return service.split_schema(await service.get_split(session, org_id, snapshot_id, split_id))


@router.get(
    "/{snapshot_id}/compatibility", response_model=schemas.Compatibility, responses=error_responses(NotFound, Conflict)
)
async def check_compatibility(
    snapshot_id: IdPath,
    session: SessionDep,
    store: StoreDep,
    org_id: OrgIdDep,
    test_snapshot_id: Annotated[
        str, Query(min_length=1, max_length=64, description="the snapshot that would test the model")
    ],
) -> schemas.Compatibility:
    """Can ``test_snapshot_id`` evaluate a model trained on this snapshot? Also counts leaked rows."""
    return await service.compatibility(session, store, org_id, snapshot_id, test_snapshot_id)


@router.get(
    "/{snapshot_id}/data",
    response_class=StreamingResponse,
    responses=file_responses("the rows as Parquet", PARQUET) | error_responses(NotFound, Conflict),
)
async def download_data(
    snapshot_id: IdPath, session: SessionDep, store: StoreDep, org_id: OrgIdDep
) -> StreamingResponse:
    """The snapshot's rows as Parquet."""
    snapshot = await service.get_snapshot_row(session, org_id, snapshot_id)
    service.require_ready(snapshot)
    assert snapshot.data_key is not None
    return await object_response(store, snapshot.data_key, PARQUET)


@router.get(
    "/{snapshot_id}/manifest",
    response_class=StreamingResponse,
    responses={
        200: {"model": schemas.SnapshotManifest, "description": "the stored manifest file"},
        **error_responses(NotFound, Conflict),
    },
)
async def download_manifest(
    snapshot_id: IdPath, session: SessionDep, store: StoreDep, org_id: OrgIdDep
) -> StreamingResponse:
    """The JSON manifest stored beside the snapshot's Parquet data: columns, heads, counts, content hash."""
    snapshot = await service.get_snapshot_row(session, org_id, snapshot_id)
    service.require_ready(snapshot)
    assert snapshot.manifest_key is not None
    return await object_response(store, snapshot.manifest_key, "application/json")


@router.get(
    "/{snapshot_id}/splits/{split_id}/data",
    response_class=StreamingResponse,
    responses=file_responses("one boolean `test` column as Parquet", PARQUET) | error_responses(NotFound),
)
async def download_split(
    snapshot_id: IdPath, split_id: IdPath, session: SessionDep, store: StoreDep, org_id: OrgIdDep
) -> StreamingResponse:
    """One boolean ``test`` column, aligned with the snapshot's rows."""
    split = await service.get_split(session, org_id, snapshot_id, split_id)
    return await object_response(store, split.data_key, PARQUET)


@internal_router.get(
    "/{snapshot_id}/files", response_model=ReadySnapshot, responses=error_responses(NotFound, Conflict)
)
async def snapshot_files(
    snapshot_id: IdPath, session: SessionDep, org_id: OrgIdDep, split_id: IdQuery = None
) -> ReadySnapshot:
    """trainer-svc: where a ready snapshot's rows (and one of its splits) are in the object store."""
    return await service.files(session, org_id, snapshot_id, split_id)


@internal_router.put("/{snapshot_id}/references/{model_id}", status_code=status.HTTP_204_NO_CONTENT)
async def add_reference(snapshot_id: IdPath, model_id: IdPath, session: SessionDep, org_id: OrgIdDep) -> Response:
    """trainer-svc: a model now uses this snapshot (it cannot be deleted until the model is)."""
    await service.add_reference(session, org_id, snapshot_id, model_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@internal_router.delete("/{snapshot_id}/references/{model_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_reference(snapshot_id: IdPath, model_id: IdPath, session: SessionDep, org_id: OrgIdDep) -> Response:
    await service.remove_reference(session, org_id, snapshot_id, model_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
