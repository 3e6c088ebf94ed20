from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Header, status
from fastapi.responses import StreamingResponse

from automl_common.auth import OrgIdDep
from automl_common.context import PLAYGROUND_ROWS_HEADER
from automl_common.db import after_commit, release
from automl_common.deps import PageDep, SessionDep, StoreDep
from automl_common.errors import Conflict, InvalidRequest, NotFound, ServiceUnavailable, error_responses
from automl_common.ids import IdPath
from automl_common.responses import file_responses
from automl_common.schemas import Page
from automl_proto import inference as schemas
from inference_svc.batch import service
from inference_svc.batch.results import CONTENT_TYPES
from inference_svc.deps import BatchRunnerDep, InferenceSettingsDep, UpstreamsDep
from inference_svc.errors import BatchNotFinished, PlaygroundQuotaExhausted

router = APIRouter(prefix="/v1/batch-predictions", tags=["batch predictions"])


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=schemas.BatchPrediction,
    responses=error_responses(NotFound, Conflict, InvalidRequest, PlaygroundQuotaExhausted, ServiceUnavailable),
)
async def create_batch_prediction(
    body: schemas.BatchPredictionCreate,
    session: SessionDep,
    store: StoreDep,
    settings: InferenceSettingsDep,
    upstreams: UpstreamsDep,
    runner: BatchRunnerDep,
    org_id: OrgIdDep,
    playground_rows: Annotated[int, Header(alias=PLAYGROUND_ROWS_HEADER, ge=0, include_in_schema=False)] = 0,
) -> schemas.BatchPrediction:
    """Predict every row of a snapshot or a dataset's text column, with a deployment or straight from a model;
    runs in the background (`progress`), results as JSON lines or CSV in the object store (`result_url`)."""
    row = await service.create_batch(session, settings, upstreams, org_id, body, playground_rows)
    after_commit(session, partial(runner.schedule, row.id))
    return await service.to_schema(row, store)


@router.get("", response_model=Page[schemas.BatchPrediction], responses=error_responses(InvalidRequest))
async def list_batch_predictions(
    session: SessionDep, store: StoreDep, org_id: OrgIdDep, page: PageDep
) -> Page[schemas.BatchPrediction]:
    """The org's batch predictions, newest first, a page at a time."""
    return await service.list_batches(session, store, org_id, limit=page.limit, after=page.after)


@router.get("/{batch_id}", response_model=schemas.BatchPrediction, responses=error_responses(NotFound))
async def get_batch_prediction(
    batch_id: IdPath, session: SessionDep, store: StoreDep, org_id: OrgIdDep
) -> schemas.BatchPrediction:
    """One batch prediction: its status and progress (rows done of the total)."""
    return await service.to_schema(await service.get_batch(session, org_id, batch_id), store)


@router.get(
    "/{batch_id}/results",
    response_class=StreamingResponse,
    responses=file_responses("the results file, in the batch's format", "application/x-ndjson", "text/csv")
    | error_responses(NotFound, Conflict),
)
async def download_results(
    batch_id: IdPath, session: SessionDep, store: StoreDep, org_id: OrgIdDep
) -> StreamingResponse:
    """The results file, streamed."""
    row = await service.get_batch(session, org_id, batch_id)
    if row.status != "succeeded" or row.result_key is None:
        raise BatchNotFinished(f"batch prediction {batch_id!r} is {row.status}; results come once it succeeds")
    await release(session)  # the download may take long: no transaction is held meanwhile
    stream = await store.open(row.result_key)

    async def body() -> AsyncIterator[bytes]:
        async with stream:
            async for chunk in stream:
                yield chunk

    headers = {
        "Content-Length": str(stream.info.size),
        "Content-Disposition": f'attachment; filename="{batch_id}.{row.format}"',
    }
    return StreamingResponse(body(), media_type=CONTENT_TYPES[row.format], headers=headers)
