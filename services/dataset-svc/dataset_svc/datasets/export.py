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
from automl_proto import datasets as schemas
from dataset_svc.datasets.repository import DatasetRepository
from dataset_svc.datasets.service import column_schema
from dataset_svc.models import Dataset, DatasetRow, ImageAsset

PAGE = 5000


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
    dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
    async with database.sessionmaker() as session:
        connection = await session.connection()
        if connection.dialect.name == "postgresql":
            # One consistent view of the rows for the whole export.
            await connection.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        dataset = await session.get(Dataset, dataset_id)
        assert dataset is not None
        start_version = dataset.version
        columns = [column_schema(column) for column in await DatasetRepository(session).columns(dataset_id)]
        header = schemas.ExportHeader(dataset_id=dataset_id, version=start_version, columns=columns)
        yield header.model_dump_json().encode() + b"\n"
        has_assets = bool((await session.execute(select(exists().where(ImageAsset.dataset_id == dataset_id)))).scalar())
        after = -1
        count = 0
        row_columns = _row_columns(connection.dialect.name)
        while True:
            statement = (
                select(*row_columns)
                .where(DatasetRow.dataset_id == dataset_id, DatasetRow.index > after)
                .order_by(DatasetRow.index)
                .limit(PAGE)
            )
            rows = (await session.execute(statement)).all()
            if not rows:
                break
            assets: dict[int, dict[str, Any]] = {}
            if has_assets:
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
            # ids, indexes and lines are integers and statuses a fixed set of words: safe to format directly.
            lines = [
                f'{{"id":{row_id},"index":{index},"line":{"null" if line is None else line},"values":{values},'
                f'"status":"{status}","errors":{errors or "null"},"assets":{dumps(assets.get(row_id, {}))}}}'
                for row_id, index, line, values, status, errors in rows
            ]
            count += len(lines)
            after = rows[-1][1]
            yield ("\n".join(lines) + "\n").encode()
        version = (await session.execute(select(Dataset.version).where(Dataset.id == dataset_id))).scalar_one()
        await session.rollback()
    trailer = schemas.ExportTrailer(rows=count, version=version, complete=version == start_version)
    yield trailer.model_dump_json().encode() + b"\n"
