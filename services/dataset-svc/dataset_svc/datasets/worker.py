"""The ingestion worker: each upload is ingested in the background, streamed from the object store through
the parser thread (``ingest``) into the database in batches; then the column types are inferred and the
images brought in. A failure removes every row written so far and leaves the dataset ``failed`` with the
reason; nothing half-made remains. Datasets a restart interrupted start over from their stored original."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Iterator, Sequence
from typing import Literal

from automl_common.db import Database
from automl_common.storage import ObjectStore
from automl_common.worker import BackgroundWorker
from automl_proto.datasets import IMAGE_COLUMN_TYPES
from dataset_svc.datasets.ingest import IngestFailed, ParseSummary, parse_records, put_until
from dataset_svc.datasets.parsing import UploadFormatError
from dataset_svc.datasets.repository import DatasetRepository
from dataset_svc.datasets.zipped import CHUNK, open_zip, table_chunks
from dataset_svc.images.repository import AssetRepository
from dataset_svc.images.service import ImageIngestor, ZipImages
from dataset_svc.models import DatasetColumn
from dataset_svc.rows.repository import RowRepository, RowTuple
from dataset_svc.settings import DatasetSettings

logger = logging.getLogger(__name__)


class Ingestor(BackgroundWorker):
    """One run per dataset at a time: its ingestion, or (after rows with images were added or edited) the
    images still pending."""

    name = "dataset"

    def __init__(
        self, database: Database, store: ObjectStore, settings: DatasetSettings, images: ImageIngestor
    ) -> None:
        super().__init__(database)
        self.store = store
        self.settings = settings
        self.images = images

    async def interrupted(self) -> Sequence[str]:
        """Datasets left ``processing`` by a stopped process start over from their stored original."""
        async with self.transaction() as session:
            return await DatasetRepository(session).in_status("processing")

    def schedule(self, dataset_id: str, job: Literal["ingest", "images"] = "ingest") -> bool:
        work = self.run if job == "ingest" else self._images_only
        return self.start_run(dataset_id, lambda: work(dataset_id))

    async def run(self, dataset_id: str) -> None:
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
            async with self.transaction() as session:
                dataset = await DatasetRepository(session).get(dataset_id)
                assert dataset is not None
                source_format, source_key, org_id = dataset.source_format, dataset.source_key, dataset.org_id
            async with open_zip(self.store, self.settings, source_format, source_key) as zip_images:
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
        async with self.transaction() as session:
            dataset = await DatasetRepository(session).get(dataset_id)
            if dataset is None:
                return
            org_id, source_format, source_key = dataset.org_id, dataset.source_format, dataset.source_key
            await RowRepository(session).delete_all(dataset_id)  # a resumed ingestion starts clean
        assert source_key is not None

        async with open_zip(self.store, self.settings, source_format, source_key) as zip_images:
            if zip_images is not None:
                parser_format, chunks = table_chunks(zip_images.archive, zip_images.table, self.settings)
                summary = await self._parse(dataset_id, chunks, parser_format, zip_images)
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
            async with await self.store.open(source_key, chunk_size=CHUNK) as stream:
                async for chunk in stream:
                    if not await asyncio.to_thread(put_until, chunk_queue, chunk, stop):
                        return
            await asyncio.to_thread(put_until, chunk_queue, None, stop)

        parse_future = loop.run_in_executor(None, work)
        feeder = asyncio.create_task(feed()) if local_chunks is None else None
        try:
            while (batch := await batches.get()) is not None:
                async with self.transaction() as session:
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
        async with self.transaction() as session:
            await DatasetRepository(session).replace_columns(dataset_id, columns)
            dataset = await DatasetRepository(session).get(dataset_id)
            assert dataset is not None
            dataset.row_count = summary.rows
            dataset.invalid_row_count = summary.invalid
            dataset.next_index = summary.rows
        return [column.name for column in columns if column.type in IMAGE_COLUMN_TYPES]

    async def _create_assets(self, dataset_id: str, columns: list[str]) -> None:
        async with self.transaction() as session:
            await AssetRepository(session).add_pending_for_columns(dataset_id, columns)

    async def _set_ready(self, dataset_id: str) -> None:
        async with self.transaction() as session:
            dataset = await DatasetRepository(session).get(dataset_id)
            if dataset is not None and dataset.status == "processing":
                dataset.status = "ready"
                dataset.error = None
                counts = await RowRepository(session).count_by_status(dataset_id)
                dataset.invalid_row_count = counts.get("invalid", 0)

    async def _fail(self, dataset_id: str, reason: str, *, keep_rows: bool = False) -> None:
        logger.info("dataset %s failed: %s", dataset_id, reason)
        async with self.transaction() as session:
            dataset = await DatasetRepository(session).get(dataset_id)
            if dataset is None:
                return
            if not keep_rows:
                await RowRepository(session).delete_all(dataset_id)
                await DatasetRepository(session).replace_columns(dataset_id, [])
                dataset.row_count = dataset.invalid_row_count = 0
            dataset.status = "failed"
            dataset.error = reason
