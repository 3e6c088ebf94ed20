"""Row use cases: paged preview with status filter, add, edit, delete. Every edit bumps the version."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from automl_common import jsonlimits
from automl_common.errors import InvalidRequest, NotFound
from automl_proto import datasets as schemas
from automl_proto.datasets import BOXES_DESCRIPTION, IMAGE_COLUMN_TYPES, LabelledBox
from dataset_svc.datasets.repository import DatasetRepository
from dataset_svc.datasets.service import UnknownColumn, get_dataset_row, require_ready
from dataset_svc.images.repository import AssetRepository
from dataset_svc.models import Dataset, DatasetRow, ImageAsset
from dataset_svc.rows.repository import RowRepository
from dataset_svc.settings import DatasetSettings


class RowNotFound(NotFound):
    pass


class InvalidCursor(InvalidRequest):
    pass


def parse_cursor(after: str | None, start: int | None) -> int | None:
    if after is not None:
        if not after.lstrip("-").isdigit():
            raise InvalidCursor("after: not a cursor from a previous page")
        return int(after)
    if start is not None:
        return start - 1
    return None


async def to_schemas(session: AsyncSession, rows: Sequence[DatasetRow]) -> list[schemas.Row]:
    assets: dict[int, dict[str, schemas.Asset]] = {}
    for asset in await AssetRepository(session).for_rows([row.id for row in rows]):
        assets.setdefault(asset.row_id, {})[asset.column] = schemas.Asset(
            status=asset.status,
            sha256=asset.sha256,
            reason=asset.reason,
            width=asset.width,
            height=asset.height,
            histogram=asset.histogram,
        )
    return [
        schemas.Row(
            id=row.id,
            index=row.index,
            line=row.line,
            values=row.values,
            status=row.status,
            errors=row.errors,
            assets=assets.get(row.id, {}),
        )
        for row in rows
    ]


async def list_rows(
    session: AsyncSession,
    org_id: str,
    dataset_id: str,
    *,
    limit: int,
    after: str | None,
    start: int | None,
    status: str | None,
) -> schemas.RowsPage:
    await get_dataset_row(session, org_id, dataset_id)
    rows, last_index = await RowRepository(session).page_for_dataset(
        dataset_id, limit=limit, after_index=parse_cursor(after, start), status=status
    )
    return schemas.RowsPage(items=await to_schemas(session, rows), next=None if last_index is None else str(last_index))


async def get_row(session: AsyncSession, org_id: str, dataset_id: str, row_id: int) -> schemas.Row:
    await get_dataset_row(session, org_id, dataset_id)
    row = await RowRepository(session).get_in_dataset(dataset_id, row_id)
    if row is None:
        raise RowNotFound(f"row {row_id} not found in dataset {dataset_id!r}")
    return (await to_schemas(session, [row]))[0]


async def _checked_values(
    session: AsyncSession, dataset: Dataset, values: dict[str, Any], settings: DatasetSettings, where: str
) -> tuple[dict[str, Any], list[str]]:
    """Validate edited values against the columns; return them and the image columns they touch."""
    columns = {column.name: column for column in await DatasetRepository(session).columns(dataset.id)}
    unknown = sorted(set(values) - set(columns))
    if unknown:
        raise UnknownColumn(f"{where}.values: no column named {', '.join(repr(name) for name in unknown)}")
    for name, value in values.items():
        if isinstance(value, str) and len(value) > settings.max_field_chars:
            raise InvalidRequest(f"{where}.values.{name}: longer than {settings.max_field_chars} characters")
        if columns[name].type == "boxes":
            values[name] = checked_boxes(value, settings.max_boxes_per_image, f"{where}.values.{name}")
        elif isinstance(value, dict | list) and columns[name].type != "json":
            raise InvalidRequest(f"{where}.values.{name}: objects and lists are only allowed in json columns")
    return values, [name for name in values if columns[name].type in IMAGE_COLUMN_TYPES]


def checked_boxes(value: Any, max_boxes: int, where: str) -> list[dict[str, Any]]:
    """An edited boxes cell: a list of labelled boxes (its shape only: whether each box fits its image is the
    snapshot's to say, as for uploaded boxes)."""
    if isinstance(value, str):
        try:
            value = jsonlimits.loads(value) if value.strip() else []
        except ValueError as error:
            raise InvalidRequest(f"{where}: not valid JSON ({error})") from error
    if value is None:
        value = []
    if not isinstance(value, list):
        raise InvalidRequest(f"{where}: must be {BOXES_DESCRIPTION}")
    if len(value) > max_boxes:
        raise InvalidRequest(f"{where}: {len(value)} boxes, more than the limit of {max_boxes}")
    boxes = []
    for index, item in enumerate(value):
        try:
            boxes.append(LabelledBox.model_validate(item).model_dump(mode="json"))
        except ValidationError as error:
            problem = error.errors()[0]
            path = ".".join(str(part) for part in (index, *problem["loc"]))
            raise InvalidRequest(f"{where}.{path}: {problem['msg']} (each box is {BOXES_DESCRIPTION})") from None
    return boxes


async def _reset_images(session: AsyncSession, dataset: Dataset, row: DatasetRow, image_columns: list[str]) -> bool:
    """Queue the edited image cells for fetching; True if any was queued."""
    queued = False
    assets = AssetRepository(session)
    for column in image_columns:
        await assets.replace_cell(row.id, column, None)
        value = row.values.get(column)
        if isinstance(value, str) and value.strip():
            asset = ImageAsset(
                row_id=row.id, column=column, dataset_id=dataset.id, source=value.strip(), status="pending"
            )
            await assets.replace_cell(row.id, column, asset)
            queued = True
    return queued


async def add_rows(
    session: AsyncSession, settings: DatasetSettings, org_id: str, dataset_id: str, body: schemas.RowsCreate
) -> tuple[list[schemas.Row], bool]:
    dataset = await get_dataset_row(session, org_id, dataset_id)
    require_ready(dataset)
    if len(body.rows) > settings.max_rows_per_request:
        raise InvalidRequest(f"rows: at most {settings.max_rows_per_request} rows per request")
    if dataset.row_count + len(body.rows) > settings.max_rows:
        raise InvalidRequest(f"rows: the dataset would pass the limit of {settings.max_rows} rows")
    created: list[DatasetRow] = []
    images_queued = False
    for position, item in enumerate(body.rows):
        values, image_columns = await _checked_values(session, dataset, item.values, settings, f"rows.{position}")
        row = DatasetRow(
            dataset_id=dataset.id, index=dataset.next_index, line=None, values=values, status="ok", errors=None
        )
        dataset.next_index += 1
        await RowRepository(session).add(row)
        images_queued |= await _reset_images(session, dataset, row, image_columns)
        created.append(row)
    dataset.row_count += len(created)
    await _after_edit(session, dataset, images_queued)
    return await to_schemas(session, created), images_queued


async def update_row(
    session: AsyncSession, settings: DatasetSettings, org_id: str, dataset_id: str, row_id: int, body: schemas.RowValues
) -> tuple[schemas.Row, bool]:
    dataset = await get_dataset_row(session, org_id, dataset_id)
    require_ready(dataset)
    row = await RowRepository(session).get_in_dataset(dataset_id, row_id)
    if row is None:
        raise RowNotFound(f"row {row_id} not found in dataset {dataset_id!r}")
    values, image_columns = await _checked_values(session, dataset, body.values, settings, "body")
    if row.status == "invalid":
        # An invalid row has no parsed values; editing it supplies them.
        row.values = dict(values)
        row.status, row.errors = "ok", None
        dataset.invalid_row_count = max(0, dataset.invalid_row_count - 1)
    else:
        row.values = {**row.values, **values}
    images_queued = await _reset_images(session, dataset, row, image_columns)
    await _after_edit(session, dataset, images_queued)
    return (await to_schemas(session, [row]))[0], images_queued


async def delete_row(session: AsyncSession, org_id: str, dataset_id: str, row_id: int) -> None:
    dataset = await get_dataset_row(session, org_id, dataset_id)
    require_ready(dataset)
    row = await RowRepository(session).get_in_dataset(dataset_id, row_id)
    if row is None:
        raise RowNotFound(f"row {row_id} not found in dataset {dataset_id!r}")
    if row.status == "invalid":
        dataset.invalid_row_count = max(0, dataset.invalid_row_count - 1)
    await RowRepository(session).delete(row)
    dataset.row_count -= 1
    await _after_edit(session, dataset, False)


async def _after_edit(session: AsyncSession, dataset: Dataset, images_queued: bool) -> None:
    if images_queued:
        dataset.status = "processing"
    repository = DatasetRepository(session)
    await repository.flush()
    await repository.bump_version(dataset.id)
    await repository.refresh(dataset)
