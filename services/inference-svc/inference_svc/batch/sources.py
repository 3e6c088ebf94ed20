"""The rows a batch prediction reads, in chunks: a ready snapshot's Parquet file from the object store, or a
dataset's export streamed from dataset-svc (one column). Each row keeps its dataset index and row id so
results join back to the data; a row with no usable input carries the reason instead. A text row's value is
its text; an image row's is its image's content hash (the bytes are read from the store when sent)."""

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
from automl_common.storage import ObjectNotFound, ObjectStore, download_file, image_key
from modelkit import model_types

__all__ = ["BatchItem", "SourceFailed", "dataset_items", "snapshot_items", "with_image_bytes"]


class SourceFailed(Exception):
    """The rows cannot be read (the source went away, or its stream ended early)."""


@dataclass(frozen=True)
class BatchItem:
    index: int
    row_id: int | None
    value: str | bytes | None  # a text; an image's sha256, then its bytes (``with_image_bytes``)
    error: str | None = None


def image_item(index: int, row_id: int | None, sha256: Any, reason: str | None = None) -> BatchItem:
    if not sha256:
        return BatchItem(index, row_id, None, reason or "no image")
    return BatchItem(index, row_id, str(sha256))


def checked(index: int, row_id: int | None, value: Any, max_chars: int) -> BatchItem:
    if value is None or (isinstance(value, str) and not value.strip()):
        return BatchItem(index, row_id, None, "empty input")
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    if len(text) > max_chars:
        return BatchItem(index, row_id, None, f"{len(text)} characters; at most {max_chars}")
    return BatchItem(index, row_id, text)


async def snapshot_items(
    store: ObjectStore, data_key: str, path: Path, *, model_type: str, chunk_rows: int, max_chars: int
) -> AsyncIterator[list[BatchItem]]:
    """The rows' input column is the model type's (the registry's ``snapshot_column``)."""
    info = model_types.info(model_type)
    column, input_kind = info.snapshot_column, info.input_kind
    await download_file(store, data_key, path)
    parquet = await asyncio.to_thread(pq.ParquetFile, path)
    batches = parquet.iter_batches(batch_size=chunk_rows, columns=["row_id", "index", column])
    while True:
        batch = await asyncio.to_thread(next, batches, None)
        if batch is None:
            return
        columns = batch.to_pydict()
        rows = zip(columns["row_id"], columns["index"], columns[column], strict=True)
        if input_kind == "image":
            yield [image_item(index, row_id, sha256) for row_id, index, sha256 in rows]
        else:
            yield [checked(index, row_id, text, max_chars) for row_id, index, text in rows]


def _dataset_item(row: dict[str, Any], column: str, input_kind: str, max_chars: int) -> BatchItem:
    if input_kind == "image":
        asset = (row.get("assets") or {}).get(column) or {}
        if asset.get("status") != "ok":
            return image_item(row["index"], row["id"], None, f"image not fetched: {asset.get('reason') or 'pending'}")
        return image_item(row["index"], row["id"], asset.get("sha256"))
    return checked(row["index"], row["id"], (row.get("values") or {}).get(column), max_chars)


async def dataset_items(
    datasets: InternalClient,
    org_id: str,
    dataset_id: str,
    column: str,
    *,
    input_kind: str,
    chunk_rows: int,
    max_chars: int,
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
                    pending.append(_dataset_item(row, column, input_kind, max_chars))
                if len(pending) >= chunk_rows:
                    yield pending
                    pending = []
    for line in splitter.feed(b"\n"):
        ended = ended or orjson.loads(line).get("kind") == "trailer"
    if not ended:
        raise SourceFailed("the dataset export ended early; run the batch prediction again")
    if pending:
        yield pending


async def with_image_bytes(
    items: AsyncIterator[list[BatchItem]], store: ObjectStore, org_id: str, max_pixels: int
) -> AsyncIterator[list[BatchItem]]:
    """Each image row's bytes from the org's images in the store, checked as an image; a row whose image is
    gone or unreadable carries the reason instead."""
    from modelkit.model_types.image_classification.images import ImageError, open_image

    async def load(item: BatchItem) -> BatchItem:
        if not isinstance(item.value, str):
            return item
        try:
            data = await store.get_bytes(image_key(org_id, item.value))
            await asyncio.to_thread(open_image, data, max_pixels)
        except ObjectNotFound:
            return BatchItem(item.index, item.row_id, None, "the image is no longer stored")
        except ImageError as e:
            return BatchItem(item.index, item.row_id, None, str(e))
        return BatchItem(item.index, item.row_id, data)

    async for chunk in items:
        yield list(await asyncio.gather(*(load(item) for item in chunk)))
