"""Writing a snapshot's rows to Parquet (runs in worker threads; pyarrow does the heavy lifting).

Pass 1 writes every valid row and counts classes. Pass 2 leaves out classes under the minimum number of
examples (a row left with no label at all becomes invalid), writes the final file, and computes the
content hash over a canonical form of the rows (so the hash does not depend on the Parquet writer)."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from snapshot_svc.snapshots.validation import InvalidRow, Spec, ValidRow

ROW_GROUP_ROWS = 100_000


class SnapshotBuildError(Exception):
    pass


def head_field(index: int) -> str:
    return f"head_{index}"


def input_field(index: int) -> str:
    """Pass 1's name for the form's ``index``-th input column (the final file names it as the type stores it)."""
    return f"input_{index}"


def pass1_schema(spec: Spec) -> pa.Schema:
    fields = [
        pa.field("row_id", pa.int64()),
        pa.field("index", pa.int64()),
        *(pa.field(input_field(index), pa.string()) for index in range(len(spec.columns))),
        pa.field("input_hash", pa.string()),
        pa.field("text_length", pa.int32()),
        pa.field("image_width", pa.int32()),
        pa.field("image_height", pa.int32()),
        pa.field("objects", pa.list_(pa.string())),
    ]
    fields += [pa.field(head_field(index), pa.list_(pa.string())) for index in range(len(spec.heads))]
    return pa.schema(fields)


def final_schema(spec: Spec) -> pa.Schema:
    fields = [
        pa.field("row_id", pa.int64()),
        pa.field("index", pa.int64()),
        pa.field(spec.stored[0], pa.string()),
        pa.field("input_hash", pa.string()),
        *(pa.field(name, pa.string()) for name in spec.stored[1:]),
    ]
    for head in spec.heads:
        fields.append(pa.field(f"label:{head.column}", pa.list_(pa.string()) if head.multilabel else pa.string()))
    return pa.schema(fields)


@dataclass
class Pass1:
    spec: Spec
    path: Path
    counts: list[Counter[str]] = field(default_factory=list)
    rows: int = 0
    invalid: list[InvalidRow] = field(default_factory=list)
    rows_read: int = 0
    lengths: Counter[int] = field(default_factory=Counter)
    widths: Counter[int] = field(default_factory=Counter)
    heights: Counter[int] = field(default_factory=Counter)
    objects: Counter[str] = field(default_factory=Counter)  # a detection snapshot's instances per class
    objects_per_image: Counter[int] = field(default_factory=Counter)
    class_pixels: Counter[str] = field(default_factory=Counter)  # a segmentation snapshot's pixels per class
    images_per_class: Counter[str] = field(default_factory=Counter)
    classes: str | None = None  # a segmentation snapshot's class names (JSON), the first valid row's
    _writer: pq.ParquetWriter | None = None
    _hasher: Any = None

    def __post_init__(self) -> None:
        self.counts = [Counter() for _ in self.spec.heads]
        self._writer = pq.ParquetWriter(self.path, pass1_schema(self.spec))
        self._hasher = hashlib.sha256()

    @property
    def sha256(self) -> str:
        """The content hash, if no row is left out later (see ``finalize``)."""
        return str(self._hasher.hexdigest())

    def add(self, valid: list[ValidRow], invalid: list[InvalidRow]) -> None:
        valid, differ = self._same_classes(valid)
        invalid = [*invalid, *differ]
        self.invalid.extend(invalid)
        self.rows_read += len(valid) + len(invalid)
        if not valid:
            return
        for row in valid:
            for head_index, labels in enumerate(row.labels):
                self.counts[head_index].update(labels)
            self._hasher.update(canonical(row.index, row.values, row.labels))
            if row.text_length is not None:
                self.lengths[row.text_length] += 1
            if row.image_size is not None:
                self.widths[row.image_size[0]] += 1
                self.heights[row.image_size[1]] += 1
            if row.objects is not None:
                self.objects.update(row.objects)
                self.objects_per_image[len(row.objects)] += 1
            if row.pixels is not None:
                self.class_pixels.update(row.pixels)
                self.images_per_class.update(name for name, count in row.pixels.items() if count)
        columns: dict[str, list[Any]] = {
            "row_id": [row.row_id for row in valid],
            "index": [row.index for row in valid],
            **{input_field(i): [row.values[i] for row in valid] for i in range(len(self.spec.columns))},
            "input_hash": [row.input_hash for row in valid],
            "text_length": [row.text_length for row in valid],
            "image_width": [row.image_size[0] if row.image_size else None for row in valid],
            "image_height": [row.image_size[1] if row.image_size else None for row in valid],
            "objects": [row.objects for row in valid],
        }
        for head_index in range(len(self.spec.heads)):
            columns[head_field(head_index)] = [row.labels[head_index] for row in valid]
        assert self._writer is not None
        self._writer.write_table(pa.table(columns, schema=pass1_schema(self.spec)), row_group_size=ROW_GROUP_ROWS)
        self.rows += len(valid)

    def _same_classes(self, valid: list[ValidRow]) -> tuple[list[ValidRow], list[InvalidRow]]:
        """A segmentation snapshot has one list of classes: a row naming others is left out."""
        kept: list[ValidRow] = []
        differ: list[InvalidRow] = []
        for row in valid:
            if row.classes is not None:
                self.classes = self.classes or row.classes
                if row.classes != self.classes:
                    differ.append(InvalidRow(row.row_id, row.index, ["classes_differ"]))
                    continue
            kept.append(row)
        return kept, differ

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


@dataclass
class Final:
    rows: int
    sha256: str
    heads: list[dict[str, Any]]
    stats: dict[str, Any]
    dropped: list[InvalidRow]


def canonical(index: int, values: list[str], labels: list[list[str]]) -> bytes:
    """One row in the form the content hash is taken over (independent of the Parquet writer). A one-column
    form is padded with a null, so that a snapshot's hash is the one it had when the form was (input,
    completion or null)."""
    return orjson.dumps([index, *values, *([None] if len(values) == 1 else []), labels]) + b"\n"


def _stats(first: Pass1) -> dict[str, Any]:
    stats = _sizes(first.lengths, first.widths, first.heights)
    if first.objects_per_image:
        stats["objects_per_image"] = distribution(first.objects_per_image)
        stats["images_without_objects"] = first.objects_per_image.get(0, 0)
    if first.class_pixels:
        total = sum(first.class_pixels.values())
        shares = sorted(first.class_pixels.items())
        stats["class_pixel_share"] = {name: round(count / total, 6) for name, count in shares}
        stats["images_per_class"] = dict(sorted(first.images_per_class.items()))
    return stats


def _sizes(lengths: Counter[int], widths: Counter[int], heights: Counter[int]) -> dict[str, Any]:
    stats: dict[str, Any] = {}
    if lengths:
        stats["text_length"] = distribution(lengths)
    if widths:
        stats["image_width"] = distribution(widths)
        stats["image_height"] = distribution(heights)
    return stats


def _heads(spec: Spec, counts: list[Counter[str]], objects: Counter[str]) -> list[dict[str, Any]]:
    """The label heads' classes with their rows, and a detection snapshot's object classes with their
    instances (one head, named after the boxes column)."""
    heads = [(head.column, head.multilabel, counts[index]) for index, head in enumerate(spec.heads)]
    if spec.objects_column is not None:
        heads.append((spec.objects_column, True, objects))
    if spec.mask_column is not None:  # the classes by the images they appear in
        heads.append((spec.mask_column, True, objects))
    return [
        {
            "name": name,
            "multilabel": multilabel,
            "classes": [{"name": label, "count": count} for label, count in sorted(classes.items())],
        }
        for name, multilabel, classes in heads
    ]


def _rewrite_columns(spec: Spec, batch: pa.RecordBatch) -> pa.Table:
    """Pass-1 columns to final columns, vectorised (no class was left out, so no row changes)."""
    columns: dict[str, Any] = {
        "row_id": batch.column("row_id"),
        "index": batch.column("index"),
        spec.stored[0]: batch.column(input_field(0)),
        "input_hash": batch.column("input_hash"),
    }
    for index, name in enumerate(spec.stored[1:], start=1):
        columns[name] = batch.column(input_field(index))
    for head_index, head in enumerate(spec.heads):
        labels = batch.column(head_field(head_index))
        if not head.multilabel:
            # An unlabelled row has []: give it [null] so that taking element 0 yields null.
            has_label = pc.greater(pc.list_value_length(labels), 0)
            padded = pc.if_else(has_label, labels, pa.scalar([None], pa.list_(pa.string())))
            labels = pc.list_element(padded, 0)
        columns[f"label:{head.column}"] = labels
    return pa.table(columns, schema=final_schema(spec))


def duplicates(path: Path, spec: Spec) -> dict[str, int]:
    """Rows whose input another row has too (the same text, image or prompt): how many, in how many groups, and
    how many groups disagree on a single-label head's label. A split keeps each group in one part."""
    heads = [f"label:{head.column}" for head in spec.heads if not head.multilabel]
    table = pq.read_table(path, columns=["input_hash", *heads])
    grouped = table.group_by("input_hash").aggregate(
        [("input_hash", "count"), *((column, "count_distinct") for column in heads)]
    )
    sizes = grouped.column("input_hash_count")
    repeated = pc.greater(sizes, 1)
    conflicting = pa.array([False] * grouped.num_rows) if not heads else None
    for column in heads:
        differ = pc.greater(grouped.column(f"{column}_count_distinct"), 1)
        conflicting = differ if conflicting is None else pc.or_(conflicting, differ)
    return {
        "rows": int(table.num_rows - grouped.num_rows),
        "groups": int(pc.sum(repeated).as_py() or 0),
        "conflicting_groups": int(pc.sum(conflicting).as_py() or 0),
    }


def finalize(first: Pass1, path: Path, min_examples: int) -> Final:
    final = _finalize(first, path, min_examples)
    final.stats["duplicates"] = duplicates(path, first.spec)
    return final


def _finalize(first: Pass1, path: Path, min_examples: int) -> Final:
    spec = first.spec
    kept_classes: list[set[str]] = []
    for head, head_counts in zip(spec.heads, first.counts, strict=True):
        kept = {name for name, count in head_counts.items() if count >= min_examples}
        if len(kept) < 2:
            shown = ", ".join(f"{name!r}: {count}" for name, count in head_counts.most_common(10)) or "no labels"
            raise SnapshotBuildError(
                f"head {head.column!r} has fewer than 2 classes with at least {min_examples} examples ({shown})"
            )
        kept_classes.append(kept)
    if first.rows == 0:
        raise SnapshotBuildError("no valid rows: every row was left out (see invalid_reasons)")
    if spec.objects_column is not None and not first.objects:
        raise SnapshotBuildError(f"no image has a box in column {spec.objects_column!r}: a detector learns from boxes")
    if all(len(kept) == len(head_counts) for kept, head_counts in zip(kept_classes, first.counts, strict=True)):
        # The usual case: every class is kept, so the rows are pass 1's; only the columns change shape.
        with pq.ParquetWriter(path, final_schema(spec)) as writer:
            for batch in pq.ParquetFile(first.path).iter_batches(batch_size=20_000):
                writer.write_table(_rewrite_columns(spec, batch), row_group_size=ROW_GROUP_ROWS)
        return Final(
            rows=first.rows,
            sha256=first.sha256,
            heads=_heads(spec, first.counts, first.objects or first.images_per_class),
            stats=_stats(first),
            dropped=[],
        )

    schema = final_schema(spec)
    hasher = hashlib.sha256()
    counts: list[Counter[str]] = [Counter() for _ in spec.heads]
    dropped: list[InvalidRow] = []
    lengths: Counter[int] = Counter()
    widths: Counter[int] = Counter()
    heights: Counter[int] = Counter()
    rows = 0
    with pq.ParquetWriter(path, schema) as writer:
        for batch in pq.ParquetFile(first.path).iter_batches(batch_size=50_000):
            data = batch.to_pydict()
            out: dict[str, list[Any]] = {name: [] for name in schema.names}
            head_columns = [data[head_field(index)] for index in range(len(spec.heads))]
            for position, row_id in enumerate(data["row_id"]):
                labels = [
                    [label for label in column[position] if label in kept_classes[head_index]]
                    for head_index, column in enumerate(head_columns)
                ]
                if spec.heads and not any(labels):
                    dropped.append(InvalidRow(row_id, data["index"][position], ["class_too_rare"]))
                    continue
                out["row_id"].append(row_id)
                out["index"].append(data["index"][position])
                inputs = [data[input_field(index)][position] for index in range(len(spec.columns))]
                for name, cell in zip(spec.stored, inputs, strict=True):
                    out[name].append(cell)
                out["input_hash"].append(data["input_hash"][position])
                for head_index, head in enumerate(spec.heads):
                    counts[head_index].update(labels[head_index])
                    value: Any = (
                        labels[head_index]
                        if head.multilabel
                        else (labels[head_index][0] if labels[head_index] else None)
                    )
                    out[f"label:{head.column}"].append(value)
                hasher.update(canonical(data["index"][position], inputs, labels))
                if data["text_length"][position] is not None:
                    lengths[data["text_length"][position]] += 1
                if data["image_width"][position] is not None:
                    widths[data["image_width"][position]] += 1
                    heights[data["image_height"][position]] += 1
                rows += 1
            if out["row_id"]:
                writer.write_table(pa.table(out, schema=schema), row_group_size=ROW_GROUP_ROWS)
    return Final(
        rows=rows,
        sha256=hasher.hexdigest(),
        heads=_heads(spec, counts, first.objects),  # a detection snapshot has no label heads to drop rows by
        stats=_sizes(lengths, widths, heights),
        dropped=dropped,
    )


def distribution(counts: Counter[int]) -> dict[str, Any]:
    """Min, max, mean, percentiles and a 10-bucket histogram, from value counts (memory: one entry per
    distinct value, not per row)."""
    values = sorted(counts)
    total = sum(counts.values())

    def percentile(fraction: float) -> int:
        rank = min(total - 1, int(fraction * total))
        seen = 0
        for value in values:
            seen += counts[value]
            if seen > rank:
                return value
        return values[-1]

    low, high = values[0], values[-1]
    width = max(1, -(-(high - low + 1) // 10))
    histogram: Counter[int] = Counter()
    for value in values:
        histogram[(value - low) // width] += counts[value]
    return {
        "min": low,
        "max": high,
        "mean": round(sum(value * count for value, count in counts.items()) / total, 2),
        "p50": percentile(0.5),
        "p90": percentile(0.9),
        "p99": percentile(0.99),
        "histogram": [
            {"from": low + bucket * width, "to": low + (bucket + 1) * width - 1, "count": histogram.get(bucket, 0)}
            for bucket in range(10)
            if low + bucket * width <= high
        ],
    }
