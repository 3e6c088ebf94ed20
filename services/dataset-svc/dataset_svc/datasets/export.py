"""The export of a dataset's rows as JSON lines: a header, the rows in index order, and a trailer saying
whether the dataset stayed the same version throughout (snapshot-svc reads again if not).

Rows are read with plain column selects, and each row's stored JSON is passed through as the database's
text rather than parsed and dumped again: building ORM objects and pydantic models, or even round-tripping
the values through ``json``, for a million rows would cost more than the rest of a snapshot build."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from automl_common.db import Database
from automl_common.errors import RateLimited
from automl_proto import datasets as schemas
from dataset_svc.datasets.repository import ExportRepository
from dataset_svc.datasets.service import column_schema

PAGE = 5000


class ExportsBusy(RateLimited):
    """The org reads as many exports at once as it may (``max_exports_per_org``)."""


async def export_lines(database: Database, dataset_id: str) -> AsyncIterator[bytes]:
    """The export, read in pages by index: each page in a short session of its own, closed before the page
    is yielded, so a slow (or stalled) reader holds no database connection and no snapshot of the database
    while it reads. Consistency comes from the version instead: an edit between two pages bumps it, and
    the trailer then says ``complete: false`` (snapshot-svc reads again)."""
    dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
    async with database.sessionmaker() as session:
        repository = ExportRepository(session)
        dataset = await repository.get(dataset_id)
        assert dataset is not None
        start_version = dataset.version
        columns = [column_schema(column) for column in await repository.columns(dataset_id)]
        has_assets = await repository.has_assets(dataset_id)
        row_columns = await repository.row_columns()
    header = schemas.ExportHeader(dataset_id=dataset_id, version=start_version, columns=columns)
    yield header.model_dump_json().encode() + b"\n"
    after = -1
    count = 0
    while True:
        async with database.sessionmaker() as session:
            repository = ExportRepository(session)
            rows = await repository.rows_after(dataset_id, after, PAGE, row_columns)
            assets: dict[int, dict[str, Any]] = {}
            if rows and has_assets:
                assets = await repository.assets_of_rows([row[0] for row in rows])
            if not rows:
                version = await repository.version(dataset_id)
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
