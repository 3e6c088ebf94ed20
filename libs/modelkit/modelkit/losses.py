"""Per-head losses with masking: a row without a label for a head is left out of that head's loss."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray
from torch.nn import functional


@dataclass
class HeadTargets:
    """Single-label: class index per row, -1 when unlabelled. Multi-label: a 0/1 matrix, rows of -1 unlabelled."""

    values: NDArray[np.int64]
    multilabel: bool

    def labelled(self) -> NDArray[np.bool_]:
        return self.values[:, 0] >= 0 if self.multilabel else self.values >= 0


def balanced_weights(targets: HeadTargets, classes: int) -> NDArray[np.float32]:
    """Single-label: n / (k * n_c), the inverse class frequency. Multi-label: negatives / positives per class."""
    labelled = targets.values[targets.labelled()]
    if targets.multilabel:
        positives = labelled.sum(axis=0).astype(np.float64)
        negatives = len(labelled) - positives
        return np.where(positives > 0, negatives / np.maximum(positives, 1), 1.0).astype(np.float32)
    counts = np.bincount(labelled, minlength=classes).astype(np.float64)
    return np.where(counts > 0, len(labelled) / (classes * np.maximum(counts, 1)), 0.0).astype(np.float32)


def head_loss(
    logits: torch.Tensor, target: torch.Tensor, multilabel: bool, weight: torch.Tensor | None
) -> torch.Tensor:
    """Mean loss over the labelled rows; 0 (with a gradient path) when no row in the batch has a label."""
    if multilabel:
        rows = target[:, 0] >= 0
        if not bool(rows.any()):
            return logits.sum() * 0.0
        return functional.binary_cross_entropy_with_logits(
            logits[rows], target[rows].to(logits.dtype), pos_weight=weight
        )
    rows = target >= 0
    if not bool(rows.any()):
        return logits.sum() * 0.0
    return functional.cross_entropy(logits[rows], target[rows], weight=weight)


def multi_head_loss(
    logits: Sequence[torch.Tensor],
    targets: Sequence[torch.Tensor],
    multilabel: Sequence[bool],
    weights: Sequence[torch.Tensor | None],
) -> torch.Tensor:
    total = logits[0].new_zeros(())
    for head_logits, target, multi, weight in zip(logits, targets, multilabel, weights, strict=True):
        total = total + head_loss(head_logits, target, multi, weight)
    return total
