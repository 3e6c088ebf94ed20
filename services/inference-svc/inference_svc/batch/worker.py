"""Running batch predictions in the background: rows are read in chunks, sent to the model (the deployment's
replicas, or the shared playground app for a model without one) with a few chunks in flight so Serve can
batch them, written in order to a local file, and uploaded whole to the object store at the end: a failed or
interrupted run leaves no half-written result. Progress is stored as it goes; interrupted runs start over
when the service starts again. At most ``batch_max_running`` run at once; the others wait queued."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from automl_common.db import Database, utcnow
from automl_common.errors import AutoMLError
from automl_common.storage import ObjectStore, upload_file
from automl_common.worker import BackgroundWorker
from automl_proto.inference import ModelArtifacts
from inference_svc.batch.repository import BatchRepository
from inference_svc.batch.results import CONTENT_TYPES, ResultWriter, jsonl_to_csv
from inference_svc.batch.service import result_key, snapshot_files
from inference_svc.batch.sources import BatchItem, SourceFailed, dataset_items, snapshot_items, with_image_bytes
from inference_svc.deployments import service as deployments
from inference_svc.deployments.calls import ServeCalls
from inference_svc.deployments.repository import DeploymentRepository
from inference_svc.errors import DeploymentNotReady
from inference_svc.serving.loader import ModelInput
from inference_svc.settings import InferenceSettings
from inference_svc.upstreams import Upstreams
from inference_svc.usage.meter import Payer
from modelkit import model_types

logger = logging.getLogger("automl.inference.batch")

Predict = Callable[[list[ModelInput]], Awaitable[list[dict[str, Any]]]]

_PROGRESS_EVERY_S = 0.5
_CHUNK_ATTEMPTS = 3


class BatchFailed(Exception):
    pass


class BatchRunner(BackgroundWorker):
    name = "batch"

    def __init__(
        self,
        database: Database,
        store: ObjectStore,
        calls: ServeCalls,
        upstreams: Upstreams,
        settings: InferenceSettings,
    ) -> None:
        super().__init__(database)
        self.store = store
        self.calls = calls
        self.upstreams = upstreams
        self.settings = settings
        self._slots = asyncio.Semaphore(settings.batch_max_running)

    @property
    def work_dir(self) -> Path:
        return self.settings.data_dir / "batch"

    async def interrupted(self) -> Sequence[str]:
        """Runs a restart interrupted start over."""
        async with self.transaction() as session:
            return await BatchRepository(session).unfinished_ids()

    async def run(self, batch_id: str) -> None:
        async with self._slots:
            directory = self.work_dir / batch_id
            try:
                await self._execute(batch_id, directory)
            except asyncio.CancelledError:
                raise
            except (BatchFailed, SourceFailed) as e:
                await self._finish(batch_id, error=str(e))
            except Exception as e:
                logger.exception("batch prediction %s failed", batch_id)
                await self._finish(batch_id, error=f"{type(e).__name__}: {e}"[:4000])
            finally:
                await asyncio.to_thread(shutil.rmtree, directory, True)

    async def _execute(self, batch_id: str, directory: Path) -> None:
        async with self.transaction() as session:
            row = await BatchRepository(session).get(batch_id)
            if row is None or row.status not in ("queued", "running"):
                return
            row.status, row.rows_done = "running", 0
            org_id, format = row.org_id, row.format
            artifacts = ModelArtifacts.model_validate(row.artifacts)
            deployment_id, snapshot_id, dataset_id = row.deployment_id, row.snapshot_id, row.dataset_id
            column = row.input_column
        await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
        # Batch predictions score classifiers (an llm model is refused): no tokens, billed to no key.
        payer = Payer(org_id, "")
        if deployment_id is not None:
            predict = await self._deployment_predict(deployment_id, payer)
        else:
            predict = self._playground_predict(artifacts, payer)
        input_kind = model_types.info(artifacts.model_type).input_kind
        if snapshot_id is not None:
            data_key = await self._snapshot_key(org_id, snapshot_id)
            items = snapshot_items(
                self.store,
                data_key,
                directory / "data.parquet",
                model_type=artifacts.model_type,
                chunk_rows=self.settings.batch_chunk_rows,
                max_chars=self.settings.max_text_chars,
            )
        else:
            assert dataset_id is not None
            assert column is not None
            items = dataset_items(
                self.upstreams.datasets,
                org_id,
                dataset_id,
                column,
                input_kind=input_kind,
                chunk_rows=self.settings.batch_chunk_rows,
                max_chars=self.settings.max_text_chars,
            )
        if input_kind == "image":
            items = with_image_bytes(items, self.store, org_id, self.settings.max_image_pixels)
        writer = await asyncio.to_thread(ResultWriter, directory / "results.jsonl")
        try:
            await self._predict_all(batch_id, items, predict, writer)
        finally:
            await asyncio.to_thread(writer.close)
        path = writer.path
        if format == "csv":
            path = directory / "results.csv"
            await asyncio.to_thread(jsonl_to_csv, writer.path, path)
        key = result_key(org_id, batch_id, format)
        await upload_file(self.store, path, key, content_type=CONTENT_TYPES[format])
        await self._finish(batch_id, result=key, rows=writer.rows)

    async def _predict_all(
        self, batch_id: str, items: AsyncIterator[list[BatchItem]], predict: Predict, writer: ResultWriter
    ) -> None:
        """Keep up to ``batch_chunks_in_flight`` chunks with the model; write their answers in row order."""
        in_flight: deque[tuple[list[BatchItem], asyncio.Task[list[dict[str, Any] | None]]]] = deque()
        reported = time.monotonic()
        try:
            async for chunk in items:
                in_flight.append((chunk, asyncio.create_task(self._answer(chunk, predict))))
                if len(in_flight) >= self.settings.batch_chunks_in_flight:
                    done, task = in_flight.popleft()
                    await asyncio.to_thread(writer.write, done, await task)
                    if time.monotonic() - reported >= _PROGRESS_EVERY_S:
                        await self._progress(batch_id, writer.rows)
                        reported = time.monotonic()
            while in_flight:
                done, task = in_flight.popleft()
                await asyncio.to_thread(writer.write, done, await task)
        finally:
            for _, task in in_flight:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task

    async def _answer(self, chunk: list[BatchItem], predict: Predict) -> list[dict[str, Any] | None]:
        values: list[ModelInput] = [item.value for item in chunk if item.value is not None]
        outputs: list[dict[str, Any]] = []
        for attempt in range(_CHUNK_ATTEMPTS):
            try:
                outputs = await predict(values) if values else []
                break
            except Exception as e:
                if attempt == _CHUNK_ATTEMPTS - 1:
                    raise BatchFailed(f"rows from index {chunk[0].index}: {e}") from e
                await asyncio.sleep(1.0 * 2**attempt)
        answers = iter(outputs)
        return [next(answers) if item.value is not None else None for item in chunk]

    async def _deployment_predict(self, deployment_id: str, payer: Payer) -> Predict:
        """Wait (up to ``batch_ready_timeout_s``) for the deployment to serve, then send chunks to it."""
        deadline = time.monotonic() + self.settings.batch_ready_timeout_s
        while True:
            async with self.transaction() as session:
                deployment = await DeploymentRepository(session).get(deployment_id)
                if deployment is None:
                    raise BatchFailed(f"deployment {deployment_id!r} was deleted")
                try:
                    route = deployments.ready_app(deployment)
                    break
                except DeploymentNotReady:
                    pass
                except Exception as e:
                    raise BatchFailed(str(e)) from e
            if time.monotonic() > deadline:
                raise BatchFailed(
                    f"deployment {deployment_id!r} was not ready within {self.settings.batch_ready_timeout_s:g} s"
                )
            await asyncio.sleep(1.0)

        async def predict(values: list[ModelInput]) -> list[dict[str, Any]]:
            return await self.calls.predict(deployment_id, route, values, payer)

        return predict

    def _playground_predict(self, artifacts: ModelArtifacts, payer: Payer) -> Predict:
        async def predict(values: list[ModelInput]) -> list[dict[str, Any]]:
            return await self.calls.playground(artifacts, values, payer)

        return predict

    async def _snapshot_key(self, org_id: str, snapshot_id: str) -> str:
        try:
            files = await snapshot_files(self.upstreams.snapshots, org_id, snapshot_id)
        except AutoMLError as e:  # gone or no longer ready since the batch was made
            raise BatchFailed(f"the snapshot cannot be read: {e.detail}") from e
        return files.data_key

    async def _progress(self, batch_id: str, rows_done: int) -> None:
        async with self.transaction() as session:
            await BatchRepository(session).set_fields(batch_id, rows_done=rows_done)

    async def _finish(
        self, batch_id: str, *, result: str | None = None, rows: int | None = None, error: str | None = None
    ) -> None:
        values: dict[str, Any] = {"status": "failed" if error else "succeeded", "error": error, "finished_at": utcnow()}
        if result is not None:
            values |= {"result_key": result, "rows_done": rows, "rows_total": rows}
        async with self.transaction() as session:
            await BatchRepository(session).set_fields(batch_id, **values)
