"""Exact ROC and precision-recall curves for one class (one-vs-rest), vectorised.

Ties are handled as scikit-learn does: every distinct score is one threshold, and rows with equal scores
move together. ROC AUC is the trapezoidal area under the full curve; average precision is the step sum
sum over n of (R_n - R_n-1) * P_n, with no interpolation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

MAX_DISPLAY_POINTS = 200


@dataclass(frozen=True)
class BinaryCurve:
    thresholds: NDArray[np.float64]  # distinct scores, descending
    tps: NDArray[np.float64]  # true positives when predicting score >= threshold
    fps: NDArray[np.float64]
    positives: int
    negatives: int


def binary_curve(positive: NDArray[np.bool_], scores: NDArray[np.float64]) -> BinaryCurve:
    """Counts at every distinct score. Sorting the scores (not argsorting them and gathering the labels)
    is enough: the rows scoring >= t are a suffix of the sorted scores, and the positives among them are
    counted by a binary search in the sorted positive scores."""
    ascending = np.sort(scores)
    starts = np.r_[0, np.flatnonzero(np.diff(ascending)) + 1]  # where each distinct score begins
    thresholds = ascending[starts]
    at_or_above = ascending.size - starts
    positive_scores = np.sort(scores[positive])
    positives = int(positive_scores.size)
    tps = positives - np.searchsorted(positive_scores, thresholds, side="left")
    fps = at_or_above - tps
    return BinaryCurve(
        thresholds[::-1],
        tps[::-1].astype(np.float64),
        fps[::-1].astype(np.float64),
        positives,
        int(ascending.size - positives),
    )


def roc_auc(curve: BinaryCurve) -> float | None:
    """None when the class has no positive or no negative example: the area is undefined then."""
    if curve.positives == 0 or curve.negatives == 0:
        return None
    tpr = np.r_[0.0, curve.tps / curve.positives]
    fpr = np.r_[0.0, curve.fps / curve.negatives]
    return float(np.trapezoid(tpr, fpr))


def average_precision(curve: BinaryCurve) -> float | None:
    """None when the class has no positive example."""
    if curve.positives == 0:
        return None
    precision = curve.tps / (curve.tps + curve.fps)
    recall = curve.tps / curve.positives
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def _thin(count: int) -> NDArray[np.intp]:
    if count <= MAX_DISPLAY_POINTS:
        return np.arange(count)
    return np.unique(np.linspace(0, count - 1, MAX_DISPLAY_POINTS).round().astype(np.intp))


def roc_points(curve: BinaryCurve) -> dict[str, list[float]]:
    """At most 200 points for display (the AUC is computed from every point, above)."""
    if curve.positives == 0 or curve.negatives == 0:
        return {"fpr": [], "tpr": [], "thresholds": []}
    fpr = np.r_[0.0, curve.fps / curve.negatives]
    tpr = np.r_[0.0, curve.tps / curve.positives]
    thresholds = np.r_[np.inf, curve.thresholds]
    keep = _thin(fpr.size)
    return {
        "fpr": fpr[keep].round(6).tolist(),
        "tpr": tpr[keep].round(6).tolist(),
        "thresholds": [float(t) if np.isfinite(t) else None for t in thresholds[keep].round(6)],
    }


def pr_points(curve: BinaryCurve) -> dict[str, list[float]]:
    if curve.positives == 0:
        return {"precision": [], "recall": [], "thresholds": []}
    precision = curve.tps / (curve.tps + curve.fps)
    recall = curve.tps / curve.positives
    keep = _thin(precision.size)
    return {
        "precision": precision[keep].round(6).tolist(),
        "recall": recall[keep].round(6).tolist(),
        "thresholds": curve.thresholds[keep].round(6).tolist(),
    }


def best_f1(curve: BinaryCurve) -> dict[str, float] | None:
    """The threshold (a distinct score) that maximises F1 for this class, from every point of the curve."""
    if curve.positives == 0:
        return None
    f1 = 2 * curve.tps / (curve.tps + curve.fps + curve.positives)
    best = int(np.argmax(f1))
    return {"threshold": float(curve.thresholds[best]), "f1": float(f1[best])}


def threshold_table(curve: BinaryCurve, grid: NDArray[np.float64]) -> list[dict[str, float | None]]:
    """Precision, recall, F1 and false positive rate when predicting the class for score >= t, per t."""
    # thresholds descend; for each t, the last distinct score >= t gives the counts.
    cut = np.searchsorted(-curve.thresholds, -grid, side="right") - 1
    rows: list[dict[str, float | None]] = []
    for t, index in zip(grid, cut, strict=True):
        tp = float(curve.tps[index]) if index >= 0 else 0.0
        fp = float(curve.fps[index]) if index >= 0 else 0.0
        fn = curve.positives - tp
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / curve.positives if curve.positives else 0.0
        f1 = 2 * tp / (2 * tp + fp + fn) if (2 * tp + fp + fn) else 0.0
        fpr = fp / curve.negatives if curve.negatives else None
        rows.append({"threshold": round(float(t), 2), "precision": precision, "recall": recall, "f1": f1, "fpr": fpr})
    return rows
