"""Datasets: the list, the upload (streamed to the API, with a progress bar), the column mapping, and the
preview grid (paged by row index to the last row, filtered by status, labels edited inline, rows added and
deleted, image thumbnails with their status, failed images fetched again)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from automl_client import errors
from automl_common.http import url_path
from automl_proto.datasets import Dataset
from gateway.console.deps import ApiDep, ConsoleSessionDep, CsrfDep
from gateway.console.render import render

router = APIRouter(prefix="/datasets", include_in_schema=False)
PAGE_ROWS = 50
PAGE_SIZE = 25
COLUMN_TYPES = ["text", "image", "json", "label", "number", "ignore"]


@router.get("")
async def datasets_page(
    request: Request,
    session: ConsoleSessionDep,
    api: ApiDep,
    after: Annotated[str | None, Query(max_length=512)] = None,
) -> HTMLResponse:
    listed = await api.datasets.page(limit=PAGE_SIZE, after=after)
    return render(
        request,
        "datasets.html",
        session,
        section="datasets",
        datasets=listed.items,
        next_cursor=listed.next,
        first_page=after is None,
        open_form=after is None and not listed.items,
    )


@router.post("/upload")
async def upload(request: Request, _: CsrfDep, api: ApiDep) -> JSONResponse:
    """The browser's multipart body (``file``, ``name``) goes to the API as it arrives: never held whole."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        return JSONResponse({"error": "InvalidRequest", "detail": "upload a file as multipart/form-data"}, 422)
    try:
        answer = await api.request(
            "POST", "/v1/datasets", build=lambda: {"content": request.stream()}, headers={"Content-Type": content_type}
        )
    except errors.APIError as error:  # the page's script shows the API's own reason ("line 1: column ...")
        if isinstance(error, errors.Unauthorized):
            raise
        return JSONResponse({"error": error.error, "detail": error.detail}, status_code=error.status)
    dataset = Dataset.model_validate_json(answer.content)
    return JSONResponse({"id": dataset.id, "url": f"/datasets/{dataset.id}"}, status_code=201)


@router.get("/{dataset_id}")
async def dataset_page(
    request: Request,
    dataset_id: str,
    session: ConsoleSessionDep,
    api: ApiDep,
    start: Annotated[int | None, Query(ge=0)] = None,
    after: Annotated[str | None, Query(max_length=128)] = None,
    status: Annotated[str | None, Query(pattern="^(ok|invalid|image_failed)$")] = None,
) -> HTMLResponse:
    dataset = await api.datasets.get(dataset_id)
    page = None
    if dataset.status == "ready":
        first = start if after is None else None
        page = await api.datasets.rows_page(dataset_id, limit=PAGE_ROWS, after=after, start=first, status=status)
    template = "dataset_rows.html" if request.headers.get("HX-Target") == "rows" else "dataset.html"
    shown = [column for column in dataset.columns if column.type != "ignore"]
    last_start = max(0, dataset.row_count - PAGE_ROWS)
    return render(
        request,
        template,
        session,
        section="datasets",
        dataset=dataset,
        page=page,
        columns=shown,
        column_types=COLUMN_TYPES,
        start=start or 0,
        status=status or "",
        last_start=last_start,
        page_rows=PAGE_ROWS,
    )


@router.post("/{dataset_id}/columns")
async def confirm_columns(request: Request, dataset_id: str, _: CsrfDep, api: ApiDep) -> Response:
    form = await request.form()
    mapping = {
        str(name)[len("type:") :]: str(value)
        for name, value in form.multi_items()
        if str(name).startswith("type:") and str(value) in COLUMN_TYPES
    }
    await api.datasets.set_columns(dataset_id, mapping)
    return RedirectResponse(f"/datasets/{url_path('{}', dataset_id)}", status_code=303)


@router.patch("/{dataset_id}/rows/{row_id}")
async def edit_row(request: Request, dataset_id: str, row_id: int, session: CsrfDep, api: ApiDep) -> HTMLResponse:
    form = await request.form()
    values = {str(name): str(value) for name, value in form.items() if str(name) != "csrf_token"}
    row = await api.datasets.update_row(dataset_id, row_id, values)
    dataset = await api.datasets.get(dataset_id)
    shown = [column for column in dataset.columns if column.type != "ignore"]
    return render(request, "dataset_row.html", session, dataset=dataset, row=row, columns=shown)


@router.delete("/{dataset_id}/rows/{row_id}")
async def delete_row(dataset_id: str, row_id: int, _: CsrfDep, api: ApiDep) -> HTMLResponse:
    await api.datasets.delete_row(dataset_id, row_id)
    return HTMLResponse("")  # htmx swaps the row out


@router.post("/{dataset_id}/rows")
async def add_row(request: Request, dataset_id: str, _: CsrfDep, api: ApiDep) -> Response:
    form = await request.form()
    values: dict[str, Any] = {
        str(name)[len("value:") :]: str(value) for name, value in form.items() if str(name).startswith("value:")
    }
    await api.datasets.add_rows(dataset_id, [values])
    dataset = await api.datasets.get(dataset_id)
    return RedirectResponse(
        f"/datasets/{url_path('{}', dataset_id)}?start={max(0, dataset.row_count - PAGE_ROWS)}#rows", status_code=303
    )


@router.post("/{dataset_id}/images/retry")
async def retry_images(dataset_id: str, _: CsrfDep, api: ApiDep) -> Response:
    await api.datasets.retry_images(dataset_id)
    return RedirectResponse(f"/datasets/{url_path('{}', dataset_id)}", status_code=303)


@router.get("/{dataset_id}/rows/{row_id}/thumbnail")
async def thumbnail(
    dataset_id: str,
    row_id: int,
    _: ConsoleSessionDep,
    api: ApiDep,
    column: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    answer = await api.request(
        "GET", url_path("/v1/datasets/{}/rows/{}/thumbnail", dataset_id, row_id), params={"column": column}
    )
    return Response(
        answer.content,
        media_type=answer.headers.get("content-type", "image/jpeg"),
        headers={"Cache-Control": "private, max-age=86400"},
    )
