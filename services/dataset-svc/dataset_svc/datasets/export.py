"""The export of a dataset's rows as JSON lines: a header, the rows in index order, and a trailer saying
whether the dataset stayed the same version throughout (snapshot-svc reads again if not).

Rows are read with plain column selects and written with ``json.dumps``: building ORM objects and pydantic
models for a million rows would cost more than everything else in a snapshot build together."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import exists, select

from automl_common.db import Database
from automl_proto import datasets as schemas
from dataset_svc.datasets.repository import DatasetRepository
from dataset_svc.datasets.service import column_schema
from dataset_svc.models import Dataset, DatasetRow, ImageAsset

PAGE = 5000
_ROW_COLUMNS = (
    DatasetRow.id,
    DatasetRow.index,
    DatasetRow.line,
    DatasetRow.values,
    DatasetRow.status,
    DatasetRow.errors,
)
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
        while True:
            statement = (
                select(*_ROW_COLUMNS)
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
            lines = [
                dumps(
                    {
                        "id": row_id,
                        "index": index,
                        "line": line,
                        "values": values,
                        "status": status,
                        "errors": errors,
                        "assets": assets.get(row_id, {}),
                    }
                )
                for row_id, index, line, values, status, errors in rows
            ]
            count += len(lines)
            after = rows[-1][1]
            yield ("\n".join(lines) + "\n").encode()
        version = (await session.execute(select(Dataset.version).where(Dataset.id == dataset_id))).scalar_one()
        await session.rollback()
    trailer = schemas.ExportTrailer(rows=count, version=version, complete=version == start_version)
    yield trailer.model_dump_json().encode() + b"\n"
