"""The rows a batch prediction reads, in chunks: a ready snapshot's Parquet file from the object store, or a
dataset's export streamed from dataset-svc (the texts of one column). Each row keeps its dataset index and
row id so results join back to the data; a row with no usable text carries the reason instead."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq

from automl_common.http import InternalClient, url_path
from automl_common.lines import LineSplitter
from automl_common.storage import ObjectStore, download_file

__all__ = ["BatchItem", "SourceFailed", "dataset_items", "snapshot_items"]


class SourceFailed(Exception):
    """The rows cannot be read (the source went away, or its stream ended early)."""


@dataclass(frozen=True)
class BatchItem:
    index: int
    row_id: int | None
    text: str | None
    error: str | None = None


def checked(index: int, row_id: int | None, value: Any, max_chars: int) -> BatchItem:
    if value is None or (isinstance(value, str) and not value.strip()):
        return BatchItem(index, row_id, None, "empty input")
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    if len(text) > max_chars:
        return BatchItem(index, row_id, None, f"{len(text)} characters; at most {max_chars}")
    return BatchItem(index, row_id, text)


async def snapshot_items(
    store: ObjectStore, data_key: str, path: Path, *, chunk_rows: int, max_chars: int
) -> AsyncIterator[list[BatchItem]]:
    await download_file(store, data_key, path)
    parquet = await asyncio.to_thread(pq.ParquetFile, path)
    batches = parquet.iter_batches(batch_size=chunk_rows, columns=["row_id", "index", "text"])
    while True:
        batch = await asyncio.to_thread(next, batches, None)
        if batch is None:
            return
        columns = batch.to_pydict()
        yield [
            checked(index, row_id, text, max_chars)
            for row_id, index, text in zip(columns["row_id"], columns["index"], columns["text"], strict=True)
        ]


async def dataset_items(
    datasets: InternalClient, org_id: str, dataset_id: str, column: str, *, chunk_rows: int, max_chars: int
) -> AsyncIterator[list[BatchItem]]:
    splitter = LineSplitter()
    pending: list[BatchItem] = []
    ended = False
    async with datasets.client.stream(
        "GET", url_path("/v1/datasets/{}/export", dataset_id), headers=datasets.headers(org_id)
    ) as response:
        if response.status_code != 200:
            body = orjson.loads(await response.aread() or b"{}")
            raise SourceFailed(f"the dataset cannot be read: {body.get('detail', response.status_code)}")
        async for chunk in response.aiter_raw():
            for line in splitter.feed(chunk):
                row = orjson.loads(line)
                kind = row.get("kind")
                if kind == "trailer":
                    ended = True
                elif kind != "header":
                    pending.append(checked(row["index"], row["id"], (row.get("values") or {}).get(column), max_chars))
                if len(pending) >= chunk_rows:
                    yield pending
                    pending = []
    for line in splitter.feed(b"\n"):
        ended = ended or orjson.loads(line).get("kind") == "trailer"
    if not ended:
        raise SourceFailed("the dataset export ended early; run the batch prediction again")
    if pending:
        yield pending
