"""Background ingestion of an uploaded file: stream it from the object store through a parser thread into
the database in batches, infer the column types, then bring in the images.

    object store ──chunks──▶ parser thread (decode, parse, validate, column statistics) ──batches──▶ inserts

Both hand-offs are bounded queues, so memory stays flat whatever the file's size. A failure removes every
row written so far and leaves the dataset ``failed`` with the reason; nothing half-made remains.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import tempfile
import threading
import zipfile
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from automl_common.db import Database
from automl_common.storage import ObjectStore
from automl_common.tasks import TaskRegistry
from dataset_svc.datasets.inference import ColumnStats
from dataset_svc.datasets.parsing import CsvParser, JsonlParser, UploadFormatError, decode_lines
from dataset_svc.datasets.repository import DatasetRepository
from dataset_svc.images.service import ImageIngestor, ZipImages
from dataset_svc.models import Dataset, DatasetColumn, DatasetRow, ImageAsset
from dataset_svc.rows.repository import RowRepository, RowTuple
from dataset_svc.settings import DatasetSettings

logger = logging.getLogger(__name__)

_CHUNK = 1024 * 1024
_TABLE_FORMATS = (".csv", ".tsv", ".jsonl", ".ndjson")


class IngestFailed(Exception):
    pass


@dataclass
class ParseSummary:
    columns: list[str]
    stats: dict[str, ColumnStats]
    rows: int = 0
    invalid: int = 0
    first_errors: list[str] = field(default_factory=list)


def parse_records(
    chunks: Iterator[bytes],
    source_format: str,
    settings: DatasetSettings,
    emit: Callable[[list[RowTuple]], None],
    zip_images: ZipImages | None,
) -> ParseSummary:
    """Runs in a worker thread: parse everything, hand rows over in batches, return the statistics."""
    lines = decode_lines(chunks, settings.max_line_chars)
    limits = {"max_columns": settings.max_columns, "max_field_chars": settings.max_field_chars}
    parser: CsvParser | JsonlParser
    if source_format == "jsonl":
        parser = JsonlParser(lines, **limits)
    else:
        parser = CsvParser(lines, delimiter="\t" if source_format == "tsv" else None, **limits)
    summary = ParseSummary(columns=parser.columns, stats={})
    contains = zip_images.contains if zip_images is not None else None
    batch: list[RowTuple] = []
    for record in parser.records():
        if summary.rows >= settings.max_rows:
            raise UploadFormatError(f"line {record.line}: more than the limit of {settings.max_rows} rows")
        index = summary.rows
        summary.rows += 1
        if record.error is not None:
            summary.invalid += 1
            if len(summary.first_errors) < 5:
                summary.first_errors.append(record.error)
            batch.append((index, record.line, {}, "invalid", [record.error]))
        else:
            for name, value in record.values.items():
                stats = summary.stats.get(name)
                if stats is None:
                    stats = summary.stats[name] = ColumnStats(name)
                stats.add(value, contains)
            batch.append((index, record.line, record.values, "ok", None))
        if len(batch) >= settings.insert_batch_rows:
            emit(batch)
            batch = []
    if batch:
        emit(batch)
    summary.columns = list(parser.columns)
    for name in summary.columns:
        summary.stats.setdefault(name, ColumnStats(name))
    # Rows seen before a JSONL column first appeared were empty in it.
    for stats in summary.stats.values():
        stats.empty = summary.rows - summary.invalid - stats.non_empty
    return summary


class Ingestor:
    """Owns the background ingestion tasks of this process."""

    def __init__(
        self, database: Database, store: ObjectStore, settings: DatasetSettings, images: ImageIngestor
    ) -> None:
        self.database = database
        self.store = store
        self.settings = settings
        self.images = images
        self.tasks = TaskRegistry()

    def start(self, dataset_id: str, job: str = "ingest") -> None:
        runner = self._ingest if job == "ingest" else self._images_only
        self.tasks.start(dataset_id, lambda: runner(dataset_id))

    async def schedule(self, dataset_id: str, job: str = "ingest") -> None:
        """``start``, as a coroutine: response background tasks run plain functions in a thread pool."""
        self.start(dataset_id, job)

    async def cancel(self, dataset_id: str) -> None:
        await self.tasks.cancel(dataset_id)

    async def resume_interrupted(self) -> None:
        """Datasets left ``processing`` by a stopped process start over from their stored original."""
        async with self.database.session() as session:
            interrupted = await DatasetRepository(session).in_status("processing")
        for dataset_id in interrupted:
            logger.info("resuming ingestion of %s", dataset_id)
            self.start(dataset_id)

    async def aclose(self) -> None:
        await self.tasks.aclose()

    async def _ingest(self, dataset_id: str) -> None:
        try:
            await self._run(dataset_id)
        except asyncio.CancelledError:
            raise
        except (UploadFormatError, IngestFailed) as error:
            await self._fail(dataset_id, error.detail if isinstance(error, UploadFormatError) else str(error))
        except Exception as error:
            logger.exception("ingestion of %s failed", dataset_id)
            await self._fail(dataset_id, f"internal error while processing the file ({type(error).__name__})")

    async def _images_only(self, dataset_id: str) -> None:
        try:
            async with self.database.session() as session:
                dataset = await session.get(Dataset, dataset_id)
                assert dataset is not None
                source_format, source_key, org_id = dataset.source_format, dataset.source_key, dataset.org_id
            async with self._zip(source_format, source_key) as zip_images:
                await self.images.process_pending(dataset_id, org_id, zip_images)
            await self._set_ready(dataset_id)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            logger.exception("image processing of %s failed", dataset_id)
            await self._fail(
                dataset_id, f"internal error while fetching images ({type(error).__name__})", keep_rows=True
            )

    async def _run(self, dataset_id: str) -> None:
        async with self.database.session() as session:
            dataset = await session.get(Dataset, dataset_id)
            if dataset is None:
                return
            org_id, source_format, source_key = dataset.org_id, dataset.source_format, dataset.source_key
            await RowRepository(session).delete_all(dataset_id)  # a resumed ingestion starts clean
        assert source_key is not None

        async with self._zip(source_format, source_key) as zip_images:
            if zip_images is not None:
                table = zip_images.table
                inner_format = (
                    "jsonl"
                    if table.lower().endswith((".jsonl", ".ndjson"))
                    else ("tsv" if table.lower().endswith(".tsv") else "csv")
                )
                summary = await self._parse(
                    dataset_id, _zip_chunks(zip_images.archive, table), inner_format, zip_images
                )
            else:
                summary = await self._parse(dataset_id, None, source_format, None, source_key=source_key)
            self._check_summary(summary)
            image_columns = await self._store_columns(dataset_id, summary)
            if image_columns:
                await self._create_assets(dataset_id, image_columns)
                await self.images.process_pending(dataset_id, org_id, zip_images)
        await self._set_ready(dataset_id)

    def _check_summary(self, summary: ParseSummary) -> None:
        if summary.rows == 0:
            raise IngestFailed("the file has a header but no rows")
        if summary.invalid > summary.rows * self.settings.max_invalid_row_fraction:
            raise IngestFailed(
                f"{summary.invalid} of {summary.rows} rows are invalid, more than the limit of "
                f"{self.settings.max_invalid_row_fraction:.0%}; first problems: " + "; ".join(summary.first_errors)
            )

    async def _parse(
        self,
        dataset_id: str,
        local_chunks: Iterator[bytes] | None,
        source_format: str,
        zip_images: ZipImages | None,
        *,
        source_key: str | None = None,
    ) -> ParseSummary:
        loop = asyncio.get_running_loop()
        batches: asyncio.Queue[list[RowTuple] | None] = asyncio.Queue(maxsize=4)
        chunk_queue: queue.Queue[bytes | None] = queue.Queue(maxsize=8)
        stop = threading.Event()

        def emit(batch: list[RowTuple]) -> None:
            if stop.is_set():
                raise IngestFailed("ingestion stopped")  # the consumer failed; stop parsing at once
            asyncio.run_coroutine_threadsafe(batches.put(batch), loop).result()

        def from_queue() -> Iterator[bytes]:
            while (chunk := chunk_queue.get()) is not None:
                yield chunk

        def work() -> ParseSummary:
            try:
                return parse_records(local_chunks or from_queue(), source_format, self.settings, emit, zip_images)
            finally:
                stop.set()
                asyncio.run_coroutine_threadsafe(batches.put(None), loop).result()

        async def feed() -> None:
            assert source_key is not None
            async with await self.store.open(source_key, chunk_size=_CHUNK) as stream:
                async for chunk in stream:
                    if not await asyncio.to_thread(_put_until, chunk_queue, chunk, stop):
                        return
            await asyncio.to_thread(_put_until, chunk_queue, None, stop)

        parse_future = loop.run_in_executor(None, work)
        feeder = asyncio.create_task(feed()) if local_chunks is None else None
        try:
            while (batch := await batches.get()) is not None:
                async with self.database.session() as session:
                    await RowRepository(session).bulk_insert(dataset_id, batch)
            return await parse_future
        finally:
            stop.set()
            if feeder is not None:
                feeder.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await feeder
            # Unblock a parser still waiting for input or for room to hand a batch over.
            with contextlib.suppress(queue.Full):
                chunk_queue.put_nowait(None)
            while not parse_future.done():
                with contextlib.suppress(asyncio.QueueEmpty):
                    batches.get_nowait()
                await asyncio.sleep(0.01)

    async def _store_columns(self, dataset_id: str, summary: ParseSummary) -> list[str]:
        columns = []
        for position, name in enumerate(summary.columns):
            stats = summary.stats[name]
            inferred = stats.infer()
            columns.append(
                DatasetColumn(
                    dataset_id=dataset_id,
                    position=position,
                    name=name,
                    type=inferred,
                    inferred_type=inferred,
                    distinct_count=stats.distinct_count,
                    distinct_capped=stats.distinct_capped,
                    empty_count=stats.empty,
                    samples=stats.samples,
                )
            )
        async with self.database.session() as session:
            await DatasetRepository(session).replace_columns(dataset_id, columns)
            dataset = await session.get(Dataset, dataset_id)
            assert dataset is not None
            dataset.row_count = summary.rows
            dataset.invalid_row_count = summary.invalid
            dataset.next_index = summary.rows
        return [column.name for column in columns if column.type == "image"]

    async def _create_assets(self, dataset_id: str, columns: list[str]) -> None:
        async with self.database.session() as session:
            await create_image_assets(session, dataset_id, columns)

    async def _set_ready(self, dataset_id: str) -> None:
        async with self.database.session() as session:
            dataset = await session.get(Dataset, dataset_id)
            if dataset is not None and dataset.status == "processing":
                dataset.status = "ready"
                dataset.error = None
                counts = await RowRepository(session).count_by_status(dataset_id)
                dataset.invalid_row_count = counts.get("invalid", 0)

    async def _fail(self, dataset_id: str, reason: str, *, keep_rows: bool = False) -> None:
        logger.info("dataset %s failed: %s", dataset_id, reason)
        async with self.database.session() as session:
            dataset = await session.get(Dataset, dataset_id)
            if dataset is None:
                return
            if not keep_rows:
                await RowRepository(session).delete_all(dataset_id)
                await DatasetRepository(session).replace_columns(dataset_id, [])
                dataset.row_count = dataset.invalid_row_count = 0
            dataset.status = "failed"
            dataset.error = reason

    @contextlib.asynccontextmanager
    async def _zip(self, source_format: str, source_key: str | None) -> AsyncIterator[ZipImages | None]:
        """For a zip upload: a local copy (zip needs random access), opened, and its images' index."""
        if source_format != "zip" or source_key is None:
            yield None
            return
        with tempfile.TemporaryDirectory(prefix="automl-zip-") as directory:
            local = Path(directory) / "upload.zip"
            async with await self.store.open(source_key) as stream:
                with local.open("wb") as handle:
                    async for chunk in stream:
                        handle.write(chunk)
            try:
                archive = zipfile.ZipFile(local)
            except zipfile.BadZipFile as error:
                raise UploadFormatError("the upload is not a readable zip file") from error
            with archive:
                self._check_zip(archive)
                yield ZipImages(archive, self._zip_table_name(archive), self.settings.image_max_bytes)

    def _check_zip(self, archive: zipfile.ZipFile) -> None:
        infos = archive.infolist()
        if len(infos) > self.settings.zip_max_members:
            raise UploadFormatError(
                f"the zip holds {len(infos)} files, more than the limit of {self.settings.zip_max_members}"
            )
        total = sum(info.file_size for info in infos)
        if total > self.settings.zip_max_uncompressed_bytes:
            raise UploadFormatError(
                f"the zip unpacks to {total} bytes, more than the limit of {self.settings.zip_max_uncompressed_bytes}"
            )
        # A member's declared size bounds what it can unpack to (zipfile stops there and checks the CRC), so
        # the declared ratio is the ratio a reader can be made to pay for.
        limit = self.settings.zip_max_ratio
        for info in infos:
            if info.file_size > 1024 * 1024 and info.file_size > limit * max(info.compress_size, 1):
                ratio = info.file_size / max(info.compress_size, 1)
                raise UploadFormatError(
                    f"zip member {info.filename[:200]!r} unpacks {ratio:.0f} times its compressed size, more than "
                    f"the limit of {limit:g} (a zip bomb?)"
                )

    @staticmethod
    def _zip_table_name(archive: zipfile.ZipFile) -> str:
        tables = [
            info.filename
            for info in archive.infolist()
            if not info.is_dir() and info.filename.lower().endswith(_TABLE_FORMATS) and "__MACOSX" not in info.filename
        ]
        if len(tables) != 1:
            found = ", ".join(tables[:5]) or "none"
            raise UploadFormatError(f"the zip must hold exactly one CSV, TSV or JSONL file (found: {found})")
        return tables[0]


async def create_image_assets(session: AsyncSession, dataset_id: str, columns: list[str]) -> None:
    """A pending asset for every non-empty cell of ``columns`` (rows walked by index, in pages)."""
    after = -1
    while True:
        statement = (
            select(DatasetRow.id, DatasetRow.index, DatasetRow.values)
            .where(DatasetRow.dataset_id == dataset_id, DatasetRow.index > after, DatasetRow.status != "invalid")
            .order_by(DatasetRow.index)
            .limit(2000)
        )
        rows = (await session.execute(statement)).all()
        if not rows:
            return
        for row_id, index, values in rows:
            after = index
            for column in columns:
                value = values.get(column)
                if isinstance(value, str) and value.strip():
                    session.add(
                        ImageAsset(
                            row_id=row_id, column=column, dataset_id=dataset_id, source=value.strip(), status="pending"
                        )
                    )
        await session.flush()


def _put_until(target: queue.Queue[bytes | None], item: bytes | None, stop: threading.Event) -> bool:
    """Put ``item`` unless the consumer has stopped; False if it has."""
    while not stop.is_set():
        try:
            target.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _zip_chunks(archive: zipfile.ZipFile, name: str) -> Iterator[bytes]:
    with archive.open(name) as member:
        while chunk := member.read(_CHUNK):
            yield chunk
