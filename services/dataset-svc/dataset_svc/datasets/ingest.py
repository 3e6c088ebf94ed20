"""Parsing an uploaded file into rows (the part of ingestion that runs in a thread; ``worker`` runs the rest):

    object store ──chunks──▶ parser thread (decode, parse, validate, column statistics) ──batches──▶ inserts

Both hand-offs are bounded queues (``put_until`` waits for room unless the consumer has stopped), so memory
stays flat whatever the file's size."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from dataset_svc.datasets.inference import ColumnStats
from dataset_svc.datasets.parsing import CsvParser, JsonlParser, UploadFormatError, decode_lines
from dataset_svc.images.service import ZipImages
from dataset_svc.rows.repository import RowTuple
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


def put_until(target: queue.Queue[bytes | None], item: bytes | None, stop: threading.Event) -> bool:
    """Put ``item`` unless the consumer has stopped; False if it has."""
    while not stop.is_set():
        try:
            target.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False
