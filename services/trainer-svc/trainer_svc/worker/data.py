"""Reading a snapshot's Parquet rows into inputs (the model type's input column) and per-head targets (class
indexes by the train snapshot's class order; -1 where a row has no label for a head)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
from numpy.typing import NDArray

from modelkit.classifier import HeadConfig
from modelkit.losses import HeadTargets


@dataclass
class SnapshotRows:
    inputs: list[Any]
    targets: list[HeadTargets]
    row_ids: list[int] = field(default_factory=list)  # the dataset rows they came from

    def take(self, mask: NDArray[np.bool_]) -> SnapshotRows:
        positions = np.flatnonzero(mask)
        return SnapshotRows(
            [self.inputs[p] for p in positions],
            [HeadTargets(t.values[positions], t.multilabel) for t in self.targets],
            [self.row_ids[p] for p in positions] if self.row_ids else [],
        )


def heads_of(snapshot_heads: list[dict[str, Any]]) -> list[HeadConfig]:
    return [
        HeadConfig(head["name"], [c["name"] for c in head["classes"]], bool(head.get("multilabel")))
        for head in snapshot_heads
    ]


def _targets(values: list[Any], head: HeadConfig) -> HeadTargets:
    index = {name: position for position, name in enumerate(head.classes)}
    if head.multilabel:
        matrix = np.full((len(values), len(head.classes)), -1, dtype=np.int64)
        for row, labels in enumerate(values):
            if labels is None:
                continue
            matrix[row] = 0
            for label in labels:
                if label in index:
                    matrix[row, index[label]] = 1
        return HeadTargets(matrix, True)
    return HeadTargets(np.array([index.get(value, -1) if value is not None else -1 for value in values]), False)


def read_rows(path: Path, heads: list[HeadConfig], input_column: str) -> SnapshotRows:
    """A head the snapshot does not have (a parent's head kept as it was) gets no labels."""
    table = pq.read_table(path)
    inputs = table.column(input_column).to_pylist()
    targets = []
    for head in heads:
        column = f"label:{head.name}"
        if column in table.column_names:
            targets.append(_targets(table.column(column).to_pylist(), head))
        else:
            shape = (len(inputs), len(head.classes)) if head.multilabel else (len(inputs),)
            targets.append(HeadTargets(np.full(shape, -1, dtype=np.int64), head.multilabel))
    row_ids = table.column("row_id").to_pylist() if "row_id" in table.column_names else []
    return SnapshotRows(inputs, targets, row_ids)


def read_split(path: Path) -> NDArray[np.bool_]:
    return np.asarray(pq.read_table(path, columns=["test"]).column("test").to_pylist(), dtype=bool)


def overlap(train: list[Any], test: list[Any]) -> int:
    """How many test inputs are exactly a training input too (a text, an image's digest, a prompt): rows the
    model was scored on after learning them, which make the test figures optimistic."""

    def key(value: Any) -> Any:
        return value if isinstance(value, str | bytes | int) else repr(value)

    seen = {key(value) for value in train}
    return sum(key(value) in seen for value in test)
