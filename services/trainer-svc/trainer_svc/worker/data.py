"""Reading a snapshot's Parquet rows into texts and per-head targets (class indexes by the train snapshot's
class order; -1 where a row has no label for a head)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
from numpy.typing import NDArray

from modelkit.classifier import HeadConfig
from modelkit.losses import HeadTargets


@dataclass
class SnapshotRows:
    texts: list[str]
    targets: list[HeadTargets]

    def take(self, mask: NDArray[np.bool_]) -> SnapshotRows:
        positions = np.flatnonzero(mask)
        return SnapshotRows(
            [self.texts[p] for p in positions], [HeadTargets(t.values[positions], t.multilabel) for t in self.targets]
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


def read_rows(path: Path, heads: list[HeadConfig]) -> SnapshotRows:
    """A head the snapshot does not have (a parent's head kept as it was) gets no labels."""
    table = pq.read_table(path)
    texts = [text or "" for text in table.column("text").to_pylist()]
    targets = []
    for head in heads:
        column = f"label:{head.name}"
        if column in table.column_names:
            targets.append(_targets(table.column(column).to_pylist(), head))
        else:
            shape = (len(texts), len(head.classes)) if head.multilabel else (len(texts),)
            targets.append(HeadTargets(np.full(shape, -1, dtype=np.int64), head.multilabel))
    return SnapshotRows(texts, targets)


def read_split(path: Path) -> NDArray[np.bool_]:
    return np.asarray(pq.read_table(path, columns=["test"]).column("test").to_pylist(), dtype=bool)
