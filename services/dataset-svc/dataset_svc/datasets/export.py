"""The export of a dataset's rows as JSON lines: a header, the rows in index order, and a trailer saying
whether the dataset stayed the same version throughout (snapshot-svc reads again if not)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from sqlalchemy import select

from automl_common.db import Database
from automl_proto import datasets as schemas
from dataset_svc.datasets.repository import DatasetRepository
from dataset_svc.datasets.service import column_schema
from dataset_svc.models import Dataset
from dataset_svc.rows.repository import RowRepository
from dataset_svc.rows.service import to_schemas

PAGE = 2000


async def export_lines(database: Database, dataset_id: str) -> AsyncIterator[bytes]:
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
        after: int | None = None
        count = 0
        repository = RowRepository(session)
        while True:
            rows, after = await repository.page_for_dataset(dataset_id, limit=PAGE, after_index=after, status=None)
            for row in await to_schemas(session, rows):
                count += 1
                yield json.dumps(row.model_dump(mode="json"), separators=(",", ":")).encode() + b"\n"
            if after is None:
                break
        version = (await session.execute(select(Dataset.version).where(Dataset.id == dataset_id))).scalar_one()
        await session.rollback()
    trailer = schemas.ExportTrailer(rows=count, version=version, complete=version == start_version)
    yield trailer.model_dump_json().encode() + b"\n"
