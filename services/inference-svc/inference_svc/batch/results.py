"""Writing a batch prediction's results: one JSON line per row as rows are answered; for CSV, the JSON lines
are turned into a table at the end (its columns, one per head and class, are known only once rows are in).

JSON lines: ``{"index", "row_id", "heads": {<head>: {"predicted": [...], "scores": {<class>: p}}}}``, or
``{"index", "row_id", "error"}`` for a row that could not be predicted; other models' rows hold their answer's
fields instead of ``"heads"`` (a detector's ``"detections"``; a segmenter's ``"mask_png_base64"``,
``"classes"``, ``"pixel_shares"``). CSV: ``index,row_id,error``, then per head ``<head>`` (the predicted classes
joined by ``|``) and ``<head>:<class>`` (each class's score); for other models, a column per field (JSON)."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import orjson

from inference_svc.batch.sources import BatchItem

FIELD = ""  # a column of a model's answer that has no heads (a detector's, a segmenter's)
ROW_FIELDS = ("index", "row_id", "error", "heads")
CONTENT_TYPES = {"jsonl": "application/x-ndjson", "csv": "text/csv"}


class ResultWriter:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows = 0
        self._file: IO[bytes] = path.open("wb")

    def write(self, items: Sequence[BatchItem], outputs: Sequence[dict[str, Any] | None]) -> None:
        lines = []
        for item, output in zip(items, outputs, strict=True):
            line: dict[str, Any] = {"index": item.index, "row_id": item.row_id}
            if output is None:
                line["error"] = item.error
            else:
                line.update(output)
            lines.append(orjson.dumps(line))
        self._file.write(b"\n".join(lines) + b"\n")
        self.rows += len(items)

    def close(self) -> None:
        self._file.close()


def _columns(path: Path) -> list[tuple[str, str | None]]:
    """(head, None) for the predicted classes and (head, class) for the scores, in the order first seen."""
    columns: dict[tuple[str, str | None], None] = {}
    with path.open("rb") as lines:
        for line in lines:
            row = orjson.loads(line)
            for name in row:
                if name not in ROW_FIELDS:
                    columns.setdefault((FIELD, name))
            for head, answer in row.get("heads", {}).items():
                columns.setdefault((head, None))
                for name in sorted(answer["scores"]):
                    columns.setdefault((head, name))
    return list(columns)


def jsonl_to_csv(source: Path, target: Path) -> None:
    columns = _columns(source)
    with source.open("rb") as lines, target.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(
            [
                "index",
                "row_id",
                "error",
                *(name if head == FIELD else head if name is None else f"{head}:{name}" for head, name in columns),
            ]
        )
        for line in lines:
            row = orjson.loads(line)
            heads = row.get("heads", {})
            cells: list[Any] = [row["index"], row["row_id"], row.get("error") or ""]
            for head, name in columns:
                answer = heads.get(head)
                if head == FIELD:
                    value = row.get(name)
                    cells.append(
                        "" if value is None else value if isinstance(value, str) else orjson.dumps(value).decode()
                    )
                elif answer is None:
                    cells.append("")
                elif name is None:
                    cells.append("|".join(answer["predicted"]))
                else:
                    score = answer["scores"].get(name)
                    cells.append("" if score is None else f"{score:.6g}")
            writer.writerow(cells)


def _cell(value: Any) -> str:
    """A field of a model's answer in a CSV cell: a text as it is, anything else as JSON."""
    if value is None:
        return ""
    return value if isinstance(value, str) else orjson.dumps(value).decode()
