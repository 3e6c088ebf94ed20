"""Building snapshots in the background: read the dataset's export from dataset-svc as a stream, validate
each row in a worker thread, write Parquet, store it with its manifest, and record the invalid rows.

A failed build removes everything it wrote and leaves the snapshot ``failed`` with the reason."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from snapshot_svc.snapshots.materialise import Pass1, SnapshotBuildError
from snapshot_svc.snapshots.validation import Spec

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


def check_columns(spec: Spec, columns: list[dict[str, Any]]) -> None:
    """The columns the snapshot reads must still exist with fitting types (the dataset may have changed)."""
    types = {column["name"]: column["type"] for column in columns}
    problems = column_problems(spec, types)
    if problems:
        raise SnapshotBuildError("; ".join(problems))


def column_problems(spec: Spec, types: dict[str, str]) -> list[str]:
    wanted = [(column.field, name, column.mapped_as) for column, name in spec.columns]
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


async def file_chunks(path: Path, size: int = 1024 * 1024) -> AsyncIterator[bytes]:
    handle = open(path, "rb")  # noqa: ASYNC230, SIM115 - a local temporary file, read in a thread below
    try:
        while chunk := await asyncio.to_thread(handle.read, size):
            yield chunk
    finally:
        handle.close()
