from __future__ import annotations

from functools import partial
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response, status

from automl_common.auth import OrgIdDep
from automl_common.db import after_commit
from automl_common.deps import SessionDep
from automl_common.errors import Conflict, InvalidRequest, NotFound, error_responses
from automl_common.ids import IdPath, RowIdPath
from automl_proto import datasets as schemas
from dataset_svc.deps import DatasetSettingsDep, IngestorDep
from dataset_svc.rows import service

router = APIRouter(prefix="/v1/datasets/{dataset_id}/rows", tags=["rows"])


@router.get("", response_model=schemas.RowsPage, responses=error_responses(NotFound, InvalidRequest))
async def list_rows(
    dataset_id: IdPath,
    session: SessionDep,
    org_id: OrgIdDep,
    limit: Annotated[int, Query(ge=1, le=500, description="rows per page")] = 50,
    after: Annotated[str | None, Query(max_length=32, description="cursor from the previous page")] = None,
    start: Annotated[int | None, Query(ge=0, description="first row index to show (jump deep at once)")] = None,
    row_status: Annotated[
        Literal["ok", "invalid", "image_failed"] | None,
        Query(alias="status", description="only the rows in this state"),
    ] = None,
) -> schemas.RowsPage:
    """Rows in index order. Paging is by index, so a page deep in a large dataset is as fast as the first."""
    return await service.list_rows(
        session, org_id, dataset_id, limit=limit, after=after, start=start, status=row_status
    )


@router.get("/{row_id}", response_model=schemas.Row, responses=error_responses(NotFound))
async def get_row(dataset_id: IdPath, row_id: RowIdPath, session: SessionDep, org_id: OrgIdDep) -> schemas.Row:
    """One row by its id: its values, index, status and the reasons it is invalid, if it is."""
    return await service.get_row(session, org_id, dataset_id, row_id)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.RowsPage,
    responses=error_responses(NotFound, Conflict, InvalidRequest),
)
async def add_rows(
    dataset_id: IdPath,
    body: schemas.RowsCreate,
    session: SessionDep,
    settings: DatasetSettingsDep,
    ingestor: IngestorDep,
    org_id: OrgIdDep,
) -> schemas.RowsPage:
    """Append rows (column -> value); each is validated like an uploaded row, and the dataset's version goes up."""
    rows, images_queued = await service.add_rows(session, settings, org_id, dataset_id, body)
    if images_queued:
        after_commit(session, partial(ingestor.schedule, dataset_id, "images"))
    return schemas.RowsPage(items=rows)


@router.patch("/{row_id}", response_model=schemas.Row, responses=error_responses(NotFound, Conflict, InvalidRequest))
async def update_row(
    dataset_id: IdPath,
    row_id: RowIdPath,
    body: schemas.RowValues,
    session: SessionDep,
    settings: DatasetSettingsDep,
    ingestor: IngestorDep,
    org_id: OrgIdDep,
) -> schemas.Row:
    """Change some of a row's values (for example its label); the others stay as they are."""
    row, images_queued = await service.update_row(session, settings, org_id, dataset_id, row_id, body)
    if images_queued:
        after_commit(session, partial(ingestor.schedule, dataset_id, "images"))
    return row


@router.delete("/{row_id}", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(NotFound, Conflict))
async def delete_row(dataset_id: IdPath, row_id: RowIdPath, session: SessionDep, org_id: OrgIdDep) -> Response:
    """Delete one row; the dataset's version goes up (snapshots already made keep it)."""
    await service.delete_row(session, org_id, dataset_id, row_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
