"""The export of a dataset's rows as JSON lines: a header, the rows in index order, and a trailer saying
whether the dataset stayed the same version throughout (snapshot-svc reads again if not).

Rows are read with plain column selects, and each row's stored JSON is passed through as the database's
text rather than parsed and dumped again: building ORM objects and pydantic models, or even round-tripping
the values through ``json``, for a million rows would cost more than the rest of a snapshot build."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import ColumnElement, Text, cast, exists, func, select, type_coerce

from automl_common.db import Database
from automl_common.errors import RateLimited
from automl_proto import datasets as schemas
from dataset_svc.datasets.repository import DatasetRepository
from dataset_svc.datasets.service import column_schema
from dataset_svc.models import Dataset, DatasetRow, ImageAsset

PAGE = 5000


class ExportsBusy(RateLimited):
    """The org reads as many exports at once as it may (``max_exports_per_org``)."""


def _row_columns(dialect: str) -> tuple[Any, ...]:
    """Row columns, with ``values`` and ``errors`` as the stored JSON text (not parsed by the driver)."""
    values: ColumnElement[str]
    errors: ColumnElement[str]
    if dialect == "postgresql":
        values, errors = cast(DatasetRow.values, Text), cast(DatasetRow.errors, Text)
    else:
        values = type_coerce(func.json(DatasetRow.values), Text)
        errors = type_coerce(func.json(DatasetRow.errors), Text)
    return (DatasetRow.id, DatasetRow.index, DatasetRow.line, values, DatasetRow.status, errors)


_ASSET_COLUMNS = (
    ImageAsset.row_id,
    ImageAsset.column,
    ImageAsset.status,
    ImageAsset.sha256,
    ImageAsset.reason,
    ImageAsset.width,
    ImageAsset.height,
)


async def export_lines(database: Database, dataset_id: str) -> AsyncIterator[bytes]:
    """The export, read in pages by index: each page in a short session of its own, closed before the page
    is yielded, so a slow (or stalled) reader holds no database connection and no snapshot of the database
    while it reads. Consistency comes from the version instead: an edit between two pages bumps it, and
    the trailer then says ``complete: false`` (snapshot-svc reads again)."""
    dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
    async with database.sessionmaker() as session:
        dataset = await session.get(Dataset, dataset_id)
        assert dataset is not None
        start_version = dataset.version
        columns = [column_schema(column) for column in await DatasetRepository(session).columns(dataset_id)]
        has_assets = bool((await session.execute(select(exists().where(ImageAsset.dataset_id == dataset_id)))).scalar())
        dialect = (await session.connection()).dialect.name
    header = schemas.ExportHeader(dataset_id=dataset_id, version=start_version, columns=columns)
    yield header.model_dump_json().encode() + b"\n"
    after = -1
    count = 0
    row_columns = _row_columns(dialect)
    while True:
        async with database.sessionmaker() as session:
            statement = (
                select(*row_columns)
                .where(DatasetRow.dataset_id == dataset_id, DatasetRow.index > after)
                .order_by(DatasetRow.index)
                .limit(PAGE)
            )
            rows = (await session.execute(statement)).all()
            assets: dict[int, dict[str, Any]] = {}
            if rows and has_assets:
                asset_rows = await session.execute(
                    select(*_ASSET_COLUMNS).where(ImageAsset.row_id.in_([row[0] for row in rows]))
                )
                for row_id, column, status, sha256, reason, width, height in asset_rows:
                    assets.setdefault(row_id, {})[column] = {
                        "status": status,
                        "sha256": sha256,
                        "reason": reason,
                        "width": width,
                        "height": height,
                    }
            if not rows:
                version = (await session.execute(select(Dataset.version).where(Dataset.id == dataset_id))).scalar()
        if not rows:
            break
        # ids, indexes and lines are integers and statuses a fixed set of words: safe to format directly.
        lines = [
            f'{{"id":{row_id},"index":{index},"line":{"null" if line is None else line},"values":{values},'
            f'"status":"{status}","errors":{errors or "null"},"assets":{dumps(assets.get(row_id, {}))}}}'
            for row_id, index, line, values, status, errors in rows
        ]
        count += len(lines)
        after = rows[-1][1]
        yield ("\n".join(lines) + "\n").encode()
    # A dataset deleted meanwhile has no version: not complete either.
    trailer = schemas.ExportTrailer(rows=count, version=version or start_version, complete=version == start_version)
    yield trailer.model_dump_json().encode() + b"\n"
