"""A segmenter's figures from the pixel confusion matrix, named as the metric guide (MMSegmentation) names
them, as fractions of 1: ``aAcc`` (the share of scored pixels classified right), per class ``IoU`` (true
positives over the union of truth and prediction) and ``Acc`` (true positives over the truth's pixels), and
``mIoU`` / ``mAcc``, their means over the classes present in the truth or the prediction (a class with no
pixel in either has no IoU and is left out, as MMSegmentation leaves its NaN out)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from modelkit.model_types.semantic_segmentation.model import IGNORE_INDEX


def confusion(truth: NDArray[np.integer], predicted: NDArray[np.integer], num_classes: int) -> NDArray[np.int64]:
    """(classes, classes) pixel counts, truth by row, prediction by column; ignored pixels (255, or a value
    that is no class) left out."""
    truth = truth.reshape(-1).astype(np.int64)
    predicted = predicted.reshape(-1).astype(np.int64)
    scored = (truth != IGNORE_INDEX) & (truth < num_classes)
    counts = np.bincount(truth[scored] * num_classes + predicted[scored], minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


@dataclass
class SegmentationFigures:
    aAcc: float  # noqa: N815 - the guide's name
    mIoU: float  # noqa: N815
    mAcc: float  # noqa: N815
    iou: list[float | None]  # per class; None: the class is in neither the truth nor the prediction
    acc: list[float | None]  # per class; None: the class is not in the truth
    pixels: list[int]  # per class, its pixels in the truth


def figures(matrix: NDArray[np.int64]) -> SegmentationFigures:
    diagonal = np.diag(matrix).astype(np.float64)
    truth = matrix.sum(axis=1).astype(np.float64)
    predicted = matrix.sum(axis=0).astype(np.float64)
    union = truth + predicted - diagonal
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0, diagonal / union, np.nan)
        acc = np.where(truth > 0, diagonal / truth, np.nan)
    total = float(matrix.sum())
    return SegmentationFigures(
        aAcc=float(diagonal.sum() / total) if total else 0.0,
        mIoU=float(np.nanmean(iou)) if np.any(~np.isnan(iou)) else 0.0,
        mAcc=float(np.nanmean(acc)) if np.any(~np.isnan(acc)) else 0.0,
        iou=[None if np.isnan(value) else round(float(value), 6) for value in iou],
        acc=[None if np.isnan(value) else round(float(value), 6) for value in acc],
        pixels=[int(value) for value in truth],
    )
