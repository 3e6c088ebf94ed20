"""Building snapshots in the background: read the dataset's export from dataset-svc as a stream, validate
each row in a worker thread, write Parquet, store it with its manifest, and record the invalid rows.

A failed build removes everything it wrote and leaves the snapshot ``failed`` with the reason."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import delete, insert, update

from automl_common.db import Database, utcnow
from automl_common.errors import AutoMLError
from automl_common.http import InternalClient, url_path
from automl_common.lines import LineSplitter
from automl_common.storage import ObjectStore
from automl_common.tasks import TaskRegistry
from automl_proto import snapshots as schemas
from snapshot_svc.models import Snapshot, SnapshotInvalidRow
from snapshot_svc.settings import SnapshotSettings
from snapshot_svc.snapshots.materialise import Pass1, SnapshotBuildError, finalize
from snapshot_svc.snapshots.references import IMAGE_TYPES, set_dataset_reference
from snapshot_svc.snapshots.validation import InvalidRow, Spec, ValidRow, validate_row

logger = logging.getLogger(__name__)


def data_key(org_id: str, snapshot_id: str) -> str:
    return f"orgs/{org_id}/snapshots/{snapshot_id}/data.parquet"


def manifest_key(org_id: str, snapshot_id: str) -> str:
    return f"orgs/{org_id}/snapshots/{snapshot_id}/manifest.json"


def snapshot_prefix(org_id: str, snapshot_id: str) -> str:
    return f"orgs/{org_id}/snapshots/{snapshot_id}/"


@dataclass
class ExportRead:
    first: Pass1
    version: int
    complete: bool


class SnapshotBuilder:
    def __init__(
        self, database: Database, store: ObjectStore, settings: SnapshotSettings, datasets: InternalClient
    ) -> None:
        self.database = database
        self.store = store
        self.settings = settings
        self.datasets = datasets
        self.tasks = TaskRegistry()

    def start(self, snapshot_id: str) -> None:
        self.tasks.start(snapshot_id, lambda: self._build(snapshot_id))

    async def schedule(self, snapshot_id: str) -> None:
        """``start``, as a coroutine: response background tasks run plain functions in a thread pool."""
        self.start(snapshot_id)

    async def cancel(self, snapshot_id: str) -> None:
        await self.tasks.cancel(snapshot_id)

    async def resume_interrupted(self, snapshot_ids: list[str]) -> None:
        for snapshot_id in snapshot_ids:
            logger.info("resuming the build of %s", snapshot_id)
            self.start(snapshot_id)

    async def aclose(self) -> None:
        await self.tasks.aclose()

    async def _build(self, snapshot_id: str) -> None:
        async with self.database.session() as session:
            snapshot = await session.get(Snapshot, snapshot_id)
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
            key, _file_chunks(directory / "data.parquet"), content_type="application/vnd.apache.parquet"
        )
        manifest = schemas.SnapshotManifest(
            snapshot_id=snapshot_id,
            type=spec.type,
            columns=schemas.ManifestColumns(
                input=spec.input_column,
                prompt=spec.prompt_column,
                completion=spec.completion_column,
                messages=spec.messages_column,
            ),
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
        async with self.database.session() as session:
            await self._store_invalid_rows(session, snapshot_id, invalid)
            await session.execute(
                update(Snapshot)
                .where(Snapshot.id == snapshot_id)
                .values(
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
        async with self.database.session() as session:
            await session.execute(update(Snapshot).where(Snapshot.id == snapshot_id).values(rows_read=rows_read))

    async def _store_invalid_rows(self, session: Any, snapshot_id: str, invalid: list[InvalidRow]) -> None:
        invalid.sort(key=lambda row: row.index)
        for start in range(0, len(invalid), 5000):
            await session.execute(
                insert(SnapshotInvalidRow),
                [
                    {
                        "snapshot_id": snapshot_id,
                        "position": start + offset,
                        "row_id": row.row_id,
                        "index": row.index,
                        "reasons": row.reasons,
                    }
                    for offset, row in enumerate(invalid[start : start + 5000])
                ],
            )

    async def _fail(self, snapshot_id: str, org_id: str, reason: str) -> None:
        logger.info("snapshot %s failed: %s", snapshot_id, reason)
        await self.store.delete_prefix(snapshot_prefix(org_id, snapshot_id))
        async with self.database.session() as session:
            failed = await session.get(Snapshot, snapshot_id)
        if failed is not None and failed.type in IMAGE_TYPES:  # a failed snapshot keeps nothing, no hold either
            with contextlib.suppress(Exception):
                await set_dataset_reference(self.datasets, "DELETE", org_id, failed.dataset_id, snapshot_id)
        async with self.database.session() as session:
            await session.execute(delete(SnapshotInvalidRow).where(SnapshotInvalidRow.snapshot_id == snapshot_id))
            await session.execute(
                update(Snapshot)
                .where(Snapshot.id == snapshot_id)
                .values(status="failed", error=reason, finished_at=utcnow())
            )


def check_columns(spec: Spec, columns: list[dict[str, Any]]) -> None:
    """The columns the snapshot reads must still exist with fitting types (the dataset may have changed)."""
    types = {column["name"]: column["type"] for column in columns}
    problems = column_problems(spec, types)
    if problems:
        raise SnapshotBuildError("; ".join(problems))


def column_problems(spec: Spec, types: dict[str, str]) -> list[str]:
    wanted: list[tuple[str, str | None, tuple[str, ...]]] = []
    if spec.type == "text_classification":
        wanted.append(("input_column", spec.input_column, ("text",)))
    elif spec.type == "image_classification":
        wanted.append(("input_column", spec.input_column, ("image",)))
    elif spec.messages_column is not None:
        wanted.append(("messages_column", spec.messages_column, ("json", "text")))
    else:
        wanted.append(("prompt_column", spec.prompt_column, ("text",)))
        wanted.append(("completion_column", spec.completion_column, ("text",)))
    for index, head in enumerate(spec.heads):
        allowed: tuple[str, ...] = (
            ("label", "text", "json", "number") if head.multilabel else ("label", "number", "text")
        )
        wanted.append((f"heads.{index}.column", head.column, allowed))
    problems = []
    for field_name, column, allowed in wanted:
        if column not in types:
            problems.append(f"{field_name}: the dataset has no column {column!r}")
        elif types[column] not in allowed:
            problems.append(
                f"{field_name}: column {column!r} is mapped as {types[column]!r}; it must be {' or '.join(allowed)}"
            )
    return problems


async def _file_chunks(path: Path, size: int = 1024 * 1024) -> AsyncIterator[bytes]:
    handle = open(path, "rb")  # noqa: ASYNC230, SIM115 - a local temporary file, read in a thread below
    try:
        while chunk := await asyncio.to_thread(handle.read, size):
            yield chunk
    finally:
        handle.close()
