"""Snapshots: create (type, input column, heads, invalid-row budget), the report (class counts per head,
invalid rows with their reasons, statistics), splits, and a test snapshot's compatibility."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from automl_common.http import url_path
from automl_proto.model_types import COLUMN_FIELDS, NAMES, TABLE
from gateway.console.deps import ApiDep, ConsoleSessionDep, CsrfDep
from gateway.console.forms import FormError, integer, number, refused_form, typed
from gateway.console.render import render

router = APIRouter(prefix="/snapshots", include_in_schema=False)


PAGE_SIZE = 25
FIELDS = ("name", "type", "heads", "max_invalid_row_pct", "dataset_id", *COLUMN_FIELDS)


@dataclass(frozen=True)
class ColumnField:
    """A column field of the form, from the model-type table: the dataset columns that fit it, and the types
    that read it."""

    name: str  # input_column
    mapped_as: tuple[str, ...]
    types: tuple[str, ...]


COLUMN_FORM = [
    ColumnField(
        name,
        tuple(dict.fromkeys(kind for c in columns for kind in c.mapped_as)),
        tuple(line.name for line in TABLE.values() if name in line.snapshot.fields),
    )
    for name in COLUMN_FIELDS
    if (columns := [c for line in TABLE.values() for form in line.snapshot.forms for c in form if c.field == name])
]


def _default_type(chosen: Any) -> str:
    """The first type that reads the kind of column the dataset has: images, else texts."""
    kinds = {column.type for column in chosen.columns} if chosen is not None else set()
    for line in TABLE.values():
        if any(c.reader == "image" and kinds & set(c.mapped_as) for form in line.snapshot.forms for c in form):
            return line.name
    return NAMES[0]


async def _page(
    request: Request,
    session: Any,
    api: Any,
    *,
    dataset: str | None = None,
    after: str | None = None,
    values: dict[str, Any] | None = None,
    form_error: FormError | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """A page of the list, and the form behind "New snapshot" (open, as typed, when the API refused it)."""
    listed = await api.snapshots.page(limit=PAGE_SIZE, after=after)
    datasets = [item async for item in api.datasets.list(limit=100) if item.status == "ready"][:200]
    chosen = next((item for item in datasets if item.id == dataset), None)
    return render(
        request,
        "snapshots.html",
        session,
        section="snapshots",
        snapshots=listed.items,
        next_cursor=listed.next,
        first_page=after is None,
        datasets=datasets,
        chosen=chosen,
        model_types=list(TABLE.values()),
        default_type=_default_type(chosen),
        input_field=COLUMN_FORM[0],
        other_fields=COLUMN_FORM[1:],
        values=values or {},
        form_error=form_error,
        open_form=form_error is not None or dataset is not None or (after is None and not listed.items),
        status_code=status_code,
    )


@router.get("")
async def snapshots_page(
    request: Request,
    session: ConsoleSessionDep,
    api: ApiDep,
    dataset: Annotated[str | None, Query(max_length=128)] = None,
    after: Annotated[str | None, Query(max_length=512)] = None,
) -> HTMLResponse:
    return await _page(request, session, api, dataset=dataset, after=after)


@router.post("")
async def create_snapshot(request: Request, session: CsrfDep, api: ApiDep) -> Response:
    form = await request.form()
    values: dict[str, Any] = {
        **typed(form, "head"),
        "head": [str(column) for column in form.getlist("head") if str(column)],
    }
    try:
        fields: dict[str, Any] = {
            "dataset_id": values.get("dataset_id", ""),
            "name": values.get("name", ""),
            "type": values.get("type", NAMES[0]),
            "heads": [{"column": column} for column in values["head"]],
            "max_invalid_row_pct": number(form, "max_invalid_row_pct", 10),
        }
        for column in COLUMN_FIELDS:
            if values.get(column):
                fields[column] = values[column]
        snapshot = await api.snapshots.create(**fields)
    except Exception as error:  # the user's to correct (the form again), or the console's error pages'

        async def again(refused: FormError, status: int) -> Response:
            return await _page(
                request,
                session,
                api,
                dataset=values.get("dataset_id") or None,
                values=values,
                form_error=refused,
                status_code=status,
            )

        return await refused_form(error, FIELDS, again)
    return RedirectResponse(f"/snapshots/{url_path('{}', snapshot.id)}", status_code=303)


@router.get("/{snapshot_id}")
async def snapshot_page(
    request: Request,
    snapshot_id: str,
    session: ConsoleSessionDep,
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
