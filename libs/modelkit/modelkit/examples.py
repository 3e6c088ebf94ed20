"""The test examples a model gets most wrong, per head and class: the rows of a class with the lowest score for
it (so a user sees what the model confuses, with thumbnails for images)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from modelkit.classifier import HeadConfig
from modelkit.losses import HeadTargets


@dataclass(frozen=True)
class HardExample:
    position: int  # in the test rows
    score: float  # the model's score for the true class
    predicted: list[str]


def hardest(
    head: HeadConfig, target: HeadTargets, scores: NDArray[np.float64], per_class: int
) -> dict[str, list[HardExample]]:
    out: dict[str, list[HardExample]] = {}
    for index, name in enumerate(head.classes):
        if head.multilabel:
            rows = np.flatnonzero(target.values[:, index] == 1)
        else:
            rows = np.flatnonzero(target.values == index)
        if not len(rows):
            continue
        worst = rows[np.argsort(scores[rows, index], kind="stable")[:per_class]]
        out[name] = [
            HardExample(int(row), round(float(scores[row, index]), 6), _predicted(head, scores[row])) for row in worst
        ]
    return out


def _predicted(head: HeadConfig, row: NDArray[np.float64]) -> list[str]:
    if head.multilabel:
        thresholds = head.thresholds or [0.5] * len(head.classes)
        return [name for name, score, cut in zip(head.classes, row, thresholds, strict=True) if score >= cut]
    return [head.classes[int(np.argmax(row))]]
