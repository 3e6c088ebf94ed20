"""Snapshots: create (type, input column, heads, invalid-row budget), the report (class counts per head,
invalid rows with their reasons, statistics), splits, and a test snapshot's compatibility."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from automl_client._base import path
from gateway.console.deps import ApiDep, CsrfDep, SessionDep
from gateway.console.forms import integer, number
from gateway.console.render import render

router = APIRouter(prefix="/snapshots", include_in_schema=False)


@router.get("")
async def snapshots_page(
    request: Request, session: SessionDep, api: ApiDep, dataset: Annotated[str | None, Query(max_length=128)] = None
) -> HTMLResponse:
    snapshots = [snapshot async for snapshot in api.snapshots.list(limit=100)][:100]
    datasets = [item async for item in api.datasets.list(limit=100) if item.status == "ready"][:100]
    chosen = next((item for item in datasets if item.id == dataset), None)
    return render(
        request,
        "snapshots.html",
        session,
        section="snapshots",
        snapshots=snapshots,
        datasets=datasets,
        chosen=chosen,
    )


@router.post("")
async def create_snapshot(request: Request, _: CsrfDep, api: ApiDep) -> Response:
    form = await request.form()
    kind = str(form.get("type", "text_classification"))
    heads = [{"column": str(column)} for column in form.getlist("head") if str(column)]
    fields = {
        "dataset_id": str(form.get("dataset_id", "")),
        "name": str(form.get("name", "")),
        "type": kind,
        "heads": heads,
        "max_invalid_row_pct": number(form, "max_invalid_row_pct", 10),
    }
    for column in ("input_column", "prompt_column", "completion_column", "messages_column"):
        if form.get(column):
            fields[column] = str(form.get(column))
    snapshot = await api.snapshots.create(**fields)
    return RedirectResponse(f"/snapshots/{path('{}', snapshot.id)}", status_code=303)


@router.get("/{snapshot_id}")
async def snapshot_page(
    request: Request,
    snapshot_id: str,
    session: SessionDep,
    api: ApiDep,
    test_snapshot_id: Annotated[str | None, Query(max_length=128)] = None,
) -> HTMLResponse:
    snapshot = await api.snapshots.get(snapshot_id)
    invalid = []
    if snapshot.status == "ready":
        async for row in api.snapshots.invalid_rows(snapshot_id, limit=100):
            invalid.append(row)
            if len(invalid) >= 100:
                break
    compatibility = None
    if test_snapshot_id:
        compatibility = await api.snapshots.compatibility(snapshot_id, test_snapshot_id)
    others = [item async for item in api.snapshots.list(limit=100) if item.id != snapshot_id][:100]
    return render(
        request,
        "snapshot.html",
        session,
        section="snapshots",
        snapshot=snapshot,
        invalid=invalid,
        compatibility=compatibility,
        others=others,
        test_snapshot_id=test_snapshot_id or "",
    )


@router.post("/{snapshot_id}/splits")
async def create_split(request: Request, snapshot_id: str, session: CsrfDep, api: ApiDep) -> HTMLResponse:
    form = await request.form()
    split = await api.snapshots.split(snapshot_id, test_pct=number(form, "test_pct", 20), seed=integer(form, "seed", 0))
    return render(request, "split.html", session, split=split)
