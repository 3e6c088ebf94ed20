from __future__ import annotations

from functools import partial

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import StreamingResponse

from automl_common.auth import OrgIdDep
from automl_common.db import after_commit
from automl_common.deps import PageDep, SessionDep, StoreDep
from automl_common.errors import (
    BadRequest,
    Conflict,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    UnsupportedMediaType,
    error_responses,
)
from automl_common.ids import IdPath
from automl_common.quotas import OrgQuotaExceeded, OrgSlots
from automl_common.responses import file_responses
from automl_common.schemas import Page
from automl_proto import datasets as schemas
from dataset_svc.datasets import service
from dataset_svc.datasets.export import export_lines
from dataset_svc.datasets.upload import MultipartUpload
from dataset_svc.deps import DatasetSettingsDep, IngestorDep

# Read as a stream by MultipartUpload, not by FastAPI: the form is documented here.
UPLOAD_FORM = {
    "type": "object",
    "required": ["file"],
    "properties": {
        "file": {"type": "string", "format": "binary", "description": "CSV, TSV, JSONL, or a zip of one CSV + images"},
        "name": {"type": "string", "minLength": 1, "maxLength": 200, "description": "default: the file's name"},
    },
}
router = APIRouter(prefix="/v1/datasets", tags=["datasets"])
internal_router = APIRouter(prefix="/internal/datasets", tags=["internal"], include_in_schema=False)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.Dataset,
    responses=error_responses(BadRequest, PayloadTooLarge, UnsupportedMediaType, InvalidRequest, OrgQuotaExceeded),
    openapi_extra={"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": UPLOAD_FORM}}}},
)
async def upload_dataset(
    request: Request,
    session: SessionDep,
    store: StoreDep,
    settings: DatasetSettingsDep,
    ingestor: IngestorDep,
    org_id: OrgIdDep,
) -> schemas.Dataset:
    """Upload a CSV, TSV, JSONL, or a zip of one CSV plus images (multipart: ``file``, optional ``name``).
    The file streams to storage; parsing runs in the background (``status: processing``)."""
    upload = MultipartUpload(request, max_file_bytes=settings.max_upload_bytes)
    dataset = await service.upload_dataset(session, store, settings, org_id, upload)
    after_commit(session, partial(ingestor.schedule, dataset.id))
    return await service.to_schema(session, dataset)


@router.get("", response_model=Page[schemas.Dataset], responses=error_responses(InvalidRequest))
async def list_datasets(session: SessionDep, org_id: OrgIdDep, page: PageDep) -> Page[schemas.Dataset]:
    """The org's datasets, newest first, a page at a time (`after`: the `next` of the previous page)."""
    return await service.list_datasets(session, org_id, limit=page.limit, after=page.after)


@router.get("/{dataset_id}", response_model=schemas.Dataset, responses=error_responses(NotFound))
async def get_dataset(dataset_id: IdPath, session: SessionDep, org_id: OrgIdDep) -> schemas.Dataset:
    """One dataset: its status, row counts, columns with their inferred and confirmed types, and its version."""
    return await service.to_schema(session, await service.get_dataset_row(session, org_id, dataset_id))


@router.delete("/{dataset_id}", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(NotFound, Conflict))
async def delete_dataset(
    dataset_id: IdPath,
    session: SessionDep,
    store: StoreDep,
    settings: DatasetSettingsDep,
    ingestor: IngestorDep,
    org_id: OrgIdDep,
) -> Response:
    """Delete a dataset and its rows and files. Snapshots made from it keep their own copy of the rows."""
    await service.delete_dataset(session, store, ingestor, settings, org_id, dataset_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put(
    "/{dataset_id}/columns",
    response_model=schemas.Dataset,
    responses=error_responses(NotFound, Conflict, InvalidRequest),
)
async def update_columns(
    dataset_id: IdPath,
    body: schemas.ColumnMapping,
    session: SessionDep,
    ingestor: IngestorDep,
    org_id: OrgIdDep,
) -> schemas.Dataset:
    """Confirm or correct the inferred column types. A column newly mapped to ``image`` fetches its images."""
    dataset = await service.update_mapping(session, org_id, dataset_id, body)
    if dataset.status == "processing":
        after_commit(session, partial(ingestor.schedule, dataset.id, "images"))
    return await service.to_schema(session, dataset)


@router.post(
    "/{dataset_id}/images/retry", response_model=schemas.Dataset, responses=error_responses(NotFound, Conflict)
)
async def retry_images(
    dataset_id: IdPath, session: SessionDep, ingestor: IngestorDep, org_id: OrgIdDep
) -> schemas.Dataset:
    """Fetch the images that failed again."""
    dataset = await service.retry_failed_images(session, org_id, dataset_id)
    if dataset.status == "processing":
        after_commit(session, partial(ingestor.schedule, dataset.id, "images"))
    return await service.to_schema(session, dataset)


@router.get(
    "/{dataset_id}/export",
    response_class=StreamingResponse,
    responses=file_responses("JSON lines: a header, every row, a trailer", "application/x-ndjson")
    | error_responses(NotFound, Conflict, RateLimited),
)
async def export_dataset(
    dataset_id: IdPath, request: Request, session: SessionDep, org_id: OrgIdDep
) -> StreamingResponse:
    """Every row as JSON lines (header, rows, trailer), streamed. Used by snapshot-svc. An org reads at most
    ``max_exports_per_org`` at once (429 ``ExportsBusy``): each export a reader leaves unread holds a page."""
    dataset = await service.get_dataset_row(session, org_id, dataset_id)
    service.require_ready(dataset)
    slots: OrgSlots = request.app.state.export_slots
    slots.take(org_id)
    lines = slots.held_while(org_id, export_lines(request.app.state.database, dataset_id))
    return StreamingResponse(lines, media_type="application/x-ndjson")


@internal_router.put("/{dataset_id}/references/{snapshot_id}", status_code=status.HTTP_204_NO_CONTENT)
async def add_reference(dataset_id: IdPath, snapshot_id: IdPath, session: SessionDep, org_id: OrgIdDep) -> Response:
    """snapshot-svc: an image snapshot reads this dataset's images (it cannot be deleted until the snapshot is)."""
    await service.add_reference(session, org_id, dataset_id, snapshot_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@internal_router.delete("/{dataset_id}/references/{snapshot_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_reference(dataset_id: IdPath, snapshot_id: IdPath, session: SessionDep, org_id: OrgIdDep) -> Response:
    await service.remove_reference(session, org_id, dataset_id, snapshot_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
