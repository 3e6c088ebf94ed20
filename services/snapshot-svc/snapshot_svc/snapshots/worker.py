"""The snapshot builder: each build runs in the background (see ``build`` for what one does), builds a
restart interrupted start over, and a failed build removes everything it wrote and leaves the snapshot
``failed`` with the reason."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from automl_common.db import Database, utcnow
from automl_common.errors import AutoMLError
from automl_common.http import InternalClient, url_path
from automl_common.lines import LineSplitter
from automl_common.storage import ObjectStore
from automl_common.worker import BackgroundWorker
from automl_proto import snapshots as schemas
from snapshot_svc.settings import SnapshotSettings
from snapshot_svc.snapshots.build import ExportRead, check_columns, data_key, file_chunks, manifest_key, snapshot_prefix
from snapshot_svc.snapshots.materialise import Pass1, SnapshotBuildError, finalize
from snapshot_svc.snapshots.references import holds_images, set_dataset_reference
from snapshot_svc.snapshots.repository import SnapshotRepository
from snapshot_svc.snapshots.validation import InvalidRow, Spec, ValidRow, validate_row

logger = logging.getLogger(__name__)


class SnapshotBuilder(BackgroundWorker):
    name = "snapshot"

    def __init__(
        self, database: Database, store: ObjectStore, settings: SnapshotSettings, datasets: InternalClient
    ) -> None:
        super().__init__(database)
        self.store = store
        self.settings = settings
        self.datasets = datasets

    async def interrupted(self) -> Sequence[str]:
        """Builds a restart interrupted start over."""
        async with self.transaction() as session:
            return await SnapshotRepository(session).in_status("creating")

    async def run(self, snapshot_id: str) -> None:
        async with self.transaction() as session:
            snapshot = await SnapshotRepository(session).get(snapshot_id)
            if snapshot is None:
                return
            org_id, dataset_id = snapshot.org_id, snapshot.dataset_id
            spec = Spec.from_dict({"type": snapshot.type, **snapshot.spec}, self.settings.max_text_chars)
            max_invalid_pct = float(snapshot.spec.get("max_invalid_row_pct", 10.0))
        try:
            with tempfile.TemporaryDirectory(prefix="automl-snapshot-") as directory:
                await self._run(snapshot_id, org_id, dataset_id, spec, max_invalid_pct, Path(directory))
        except asyncio.CancelledError:
            raise
        except (SnapshotBuildError, AutoMLError) as error:
            await self._fail(snapshot_id, org_id, error.detail if isinstance(error, AutoMLError) else str(error))
        except Exception as error:
            logger.exception("building snapshot %s failed", snapshot_id)
            await self._fail(
                snapshot_id, org_id, f"internal error while building the snapshot ({type(error).__name__})"
            )

    async def _run(
        self, snapshot_id: str, org_id: str, dataset_id: str, spec: Spec, max_invalid_pct: float, directory: Path
    ) -> None:
        read: ExportRead | None = None
        for attempt in range(self.settings.export_attempts):
            read = await self._read_export(
                snapshot_id, org_id, dataset_id, spec, directory / f"pass1-{attempt}.parquet"
            )
            if read.complete:
                break
        assert read is not None
        if not read.complete:
            raise SnapshotBuildError("the dataset kept changing while it was read; try again when edits stop")
        first = read.first
        final = await asyncio.to_thread(finalize, first, directory / "data.parquet", self.settings.min_class_examples)
        invalid = first.invalid + final.dropped
        total = first.rows_read
        reasons: dict[str, int] = {}
        for row in invalid:
            for reason in row.reasons:
                reasons[reason] = reasons.get(reason, 0) + 1
        if total and len(invalid) * 100 > max_invalid_pct * total:
            summary = ", ".join(f"{reason}: {count}" for reason, count in sorted(reasons.items()))
            raise SnapshotBuildError(
                f"{len(invalid)} of {total} rows are invalid ({len(invalid) * 100 / total:.1f}%), more than "
                f"max_invalid_row_pct {max_invalid_pct:g}% ({summary})"
            )
        key = data_key(org_id, snapshot_id)
        await self.store.put(
            key, file_chunks(directory / "data.parquet"), content_type="application/vnd.apache.parquet"
        )
        manifest = schemas.SnapshotManifest(
            snapshot_id=snapshot_id,
            type=spec.type,
            columns=schemas.ManifestColumns.of(spec.column),
            heads=final.heads,
            dataset_id=dataset_id,
            dataset_version=read.version,
            row_count=final.rows,
            invalid_row_count=len(invalid),
            invalid_reasons=reasons,
            sha256=final.sha256,
            stats=final.stats,
            data=key,
            created_at=utcnow(),
        )
        await self.store.put(
            manifest_key(org_id, snapshot_id),
            manifest.model_dump_json(indent=2).encode(),
            content_type="application/json",
        )
        async with self.transaction() as session:
            repository = SnapshotRepository(session)
            await repository.add_invalid_rows(snapshot_id, invalid)
            await repository.set_fields(
                snapshot_id,
                status="ready",
                dataset_version=read.version,
                rows_read=total,
                row_count=final.rows,
                invalid_row_count=len(invalid),
                invalid_reasons=reasons,
                heads=final.heads,
                stats=final.stats,
                sha256=final.sha256,
                data_key=key,
                manifest_key=manifest_key(org_id, snapshot_id),
                finished_at=utcnow(),
            )

    async def _read_export(self, snapshot_id: str, org_id: str, dataset_id: str, spec: Spec, path: Path) -> ExportRead:
        first = Pass1(spec, path)
        splitter = LineSplitter()
        state: dict[str, Any] = {"header": None, "trailer": None}
        pending: list[bytes] = []
        pending_bytes = 0

        def process(chunks: list[bytes]) -> None:
            valid: list[ValidRow] = []
            invalid: list[InvalidRow] = []
            for chunk in chunks:
                for line in splitter.feed(chunk):
                    row = orjson.loads(line)
                    kind = row.get("kind")
                    if kind == "header":
                        state["header"] = row
                        check_columns(spec, row["columns"])
                    elif kind == "trailer":
                        state["trailer"] = row
                    else:
                        result = validate_row(row, spec)
                        (valid if isinstance(result, ValidRow) else invalid).append(result)  # type: ignore[arg-type]
            first.add(valid, invalid)

        try:
            async with self.datasets.client.stream(
                "GET", url_path("/v1/datasets/{}/export", dataset_id), headers=self.datasets.headers(org_id)
            ) as response:
                if response.status_code != 200:
                    body = json.loads(await response.aread() or b"{}")
                    raise SnapshotBuildError(f"the dataset cannot be read: {body.get('detail', response.status_code)}")
                async for chunk in response.aiter_raw():
                    pending.append(chunk)
                    pending_bytes += len(chunk)
                    if pending_bytes >= 4 * 1024 * 1024:
                        await asyncio.to_thread(process, pending)
                        pending, pending_bytes = [], 0
                        await self._progress(snapshot_id, first.rows_read)
                await asyncio.to_thread(process, [*pending, b"\n"])
        finally:
            await asyncio.to_thread(first.close)
        header, trailer = state["header"], state["trailer"]
        if header is None or trailer is None:
            raise SnapshotBuildError("the dataset export ended early; try again")
        return ExportRead(
            first, int(trailer["version"]), bool(trailer["complete"]) and trailer["version"] == header["version"]
        )

    async def _progress(self, snapshot_id: str, rows_read: int) -> None:
        async with self.transaction() as session:
            await SnapshotRepository(session).set_fields(snapshot_id, rows_read=rows_read)

    async def _fail(self, snapshot_id: str, org_id: str, reason: str) -> None:
        logger.info("snapshot %s failed: %s", snapshot_id, reason)
        await self.store.delete_prefix(snapshot_prefix(org_id, snapshot_id))
        async with self.transaction() as session:
            failed = await SnapshotRepository(session).get(snapshot_id)
        if failed is not None and holds_images(failed.type):  # a failed snapshot keeps nothing, no hold either
            with contextlib.suppress(Exception):
                await set_dataset_reference(self.datasets, "DELETE", org_id, failed.dataset_id, snapshot_id)
        async with self.transaction() as session:
            repository = SnapshotRepository(session)
            await repository.delete_invalid_rows(snapshot_id)
            await repository.set_fields(snapshot_id, status="failed", error=reason, finished_at=utcnow())
