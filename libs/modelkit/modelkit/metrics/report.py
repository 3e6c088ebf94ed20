"""Metrics reports. Everything is vectorised with numpy; the values match scikit-learn's definitions
(zero_division=0), checked by property-based tests.

Documented values for undefined cases (never a crash, never a silent NaN):
- a ratio whose denominator is 0 (precision with no predicted positive, recall of a class absent from the
  test set, ...) is 0, as scikit-learn's ``zero_division=0``;
- ROC AUC is ``None`` for a class with no positive or no negative example; average precision is ``None``
  for a class with no positive example; their averages leave those classes out (``None`` if all are);
- rows without a label for the head (``-1``) are left out; no labelled row at all is an error.
NaN or infinite scores, mismatched lengths, wrong shapes and out-of-range labels raise ``MetricsInputError``.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from modelkit.metrics import curves
from modelkit.metrics.decision import NO_PREDICTION, cut_vector, decide

EPSILON = float(np.finfo(np.float64).eps)
THRESHOLD_GRID = np.round(np.arange(0.05, 0.951, 0.05), 2)
SUMMARY_KEYS = ("precision", "recall", "specificity", "f1", "balanced_accuracy")


class MetricsInputError(ValueError):
    pass


@dataclass(frozen=True)
class HeadInput:
    name: str
    labels: list[str]
    y_true: ArrayLike  # single-label: class index per row, -1 if unlabelled; multi-label: 0/1 matrix, -1 rows
    scores: ArrayLike  # (rows, classes) probabilities
    multilabel: bool = False
    threshold: float | None = None  # every class's cut-off
    cuts: dict[str, float] | None = None  # cut-offs of some classes, over ``threshold``


Z_95 = 1.959963984540054  # the normal quantile of a two-sided 95% interval


def wilson(successes: float, trials: float) -> list[float] | None:
    """The 95% Wilson score interval of a proportion (``None`` with no trials): unlike the normal
    approximation it stays inside 0-1 and is honest at 0% and 100% (40 of 40 right: 0.912-1.0)."""
    if trials <= 0:
        return None
    p = successes / trials
    z2 = Z_95 * Z_95
    centre = (p + z2 / (2 * trials)) / (1 + z2 / trials)
    half = Z_95 * np.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / (1 + z2 / trials)
    return [round(float(max(0.0, centre - half)), 6), round(float(min(1.0, centre + half)), 6)]


def _ratio(numerator: NDArray[np.float64], denominator: NDArray[np.float64]) -> NDArray[np.float64]:
    out = np.zeros_like(numerator, dtype=np.float64)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def _check_scores(scores: ArrayLike, rows: int, classes: int) -> NDArray[np.float64]:
    array = np.asarray(scores, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != classes:
        raise MetricsInputError(f"scores must have shape (rows, {classes}); got {array.shape}")
    if array.shape[0] != rows:
        raise MetricsInputError(f"{rows} labels but {array.shape[0]} rows of scores")
    bad = ~np.isfinite(array)
    if bad.any():
        first = int(np.flatnonzero(bad.any(axis=1))[0])
        raise MetricsInputError(f"scores hold {int(bad.sum())} NaN or infinite values (first at row {first})")
    return array


def _class_block(
    tp: NDArray[np.float64], fp: NDArray[np.float64], fn: NDArray[np.float64], tn: NDArray[np.float64]
) -> dict[str, NDArray[np.float64]]:
    precision = _ratio(tp, tp + fp)
    recall = _ratio(tp, tp + fn)
    specificity = _ratio(tn, tn + fp)
    return {
        "precision": precision,
        "recall": recall,
        "specificity": specificity,
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "balanced_accuracy": (recall + specificity) / 2,
    }


def _averages(
    block: dict[str, NDArray[np.float64]],
    support: NDArray[np.float64],
    tp: Any,
    fp: Any,
    fn: Any,
    tn: Any,
    aucs: list[float | None],
    aps: list[float | None],
) -> dict[str, dict[str, float | None]]:
    total = support.sum()
    macro: dict[str, float | None] = {key: float(values.mean()) for key, values in block.items()}
    weighted: dict[str, float | None] = {
        key: float((values * support).sum() / total) if total else 0.0 for key, values in block.items()
    }
    sums = _class_block(*(np.array([x.sum()], dtype=np.float64) for x in (tp, fp, fn, tn)))
    micro: dict[str, float | None] = {key: float(values[0]) for key, values in sums.items()}
    defined_auc = [(value, weight) for value, weight in zip(aucs, support, strict=True) if value is not None]
    defined_ap = [(value, weight) for value, weight in zip(aps, support, strict=True) if value is not None]
    for target, values, weighting in ((macro, defined_auc, False), (weighted, defined_auc, True)):
        target["roc_auc"] = _mean(values, weighting)
    for target, values, weighting in ((macro, defined_ap, False), (weighted, defined_ap, True)):
        target["average_precision"] = _mean(values, weighting)
    return {"macro": macro, "micro": micro, "weighted": weighted}


def _mean(pairs: list[tuple[float, float]], weighted: bool) -> float | None:
    if not pairs:
        return None
    values = np.array([value for value, _ in pairs])
    if not weighted:
        return float(values.mean())
    weights = np.array([weight for _, weight in pairs])
    return float((values * weights).sum() / weights.sum()) if weights.sum() else None


def _per_class(
    labels: list[str], positives: NDArray[np.bool_], scores: NDArray[np.float64], counts: tuple[Any, Any, Any, Any]
) -> tuple[
    dict[str, Any],
    dict[str, Any],
    dict[str, Any],
    dict[str, Any],
    dict[str, Any],
    list[float | None],
    list[float | None],
]:
    tp, fp, fn, tn = counts
    block = _class_block(tp, fp, fn, tn)
    classes: dict[str, Any] = {}
    pr: dict[str, Any] = {}
    roc: dict[str, Any] = {}
    table: dict[str, Any] = {}
    best: dict[str, Any] = {}
    aucs: list[float | None] = []
    aps: list[float | None] = []
    # One class per task: the sorts release the GIL, so two cores sort two classes at once. Columns are
    # copied out contiguous first (sorting a strided column is much slower).
    columns_positive = np.ascontiguousarray(positives.T)
    columns_scores = np.ascontiguousarray(scores.T)

    def one(index: int) -> tuple[curves.BinaryCurve, float | None, float | None]:
        curve = curves.binary_curve(columns_positive[index], columns_scores[index])
        return curve, curves.roc_auc(curve), curves.average_precision(curve)

    with ThreadPoolExecutor(max_workers=min(len(labels), os.cpu_count() or 1)) as pool:
        results = list(pool.map(one, range(len(labels))))
    for index, label in enumerate(labels):
        curve, auc, ap = results[index]
        aucs.append(auc)
        aps.append(ap)
        classes[label] = {key: float(values[index]) for key, values in block.items()} | {
            "support": int(tp[index] + fn[index]),
            "tp": int(tp[index]),
            "fp": int(fp[index]),
            "tn": int(tn[index]),
            "fn": int(fn[index]),
            "average_precision": ap,
            "roc_auc": auc,
            "precision_ci": wilson(tp[index], tp[index] + fp[index]),
            "recall_ci": wilson(tp[index], tp[index] + fn[index]),
        }
        pr[label] = curves.pr_points(curve)
        roc[label] = curves.roc_points(curve)
        table[label] = curves.threshold_table(curve, THRESHOLD_GRID)
        best[label] = curves.best_f1(curve)
    return classes, pr, roc, table, best, aucs, aps


def evaluate_single_label(
    y_true: ArrayLike,
    scores: ArrayLike,
    labels: list[str],
    *,
    threshold: float | None = None,
    cuts: dict[str, float] | None = None,
) -> dict[str, Any]:
    """One single-label head. With no cut-off: predict the argmax. ``threshold`` (every class) and ``cuts``
    (some classes) decide as a deployment's operating point does (``modelkit.metrics.decision``); every
    figure, accuracy and the confusion matrix included, is of that decision, and a row no class reaches its
    cut-off on counts as wrong (``confusion_matrix.unpredicted``)."""
    classes = len(labels)
    if classes < 2:
        raise MetricsInputError("a head needs at least 2 classes")
    y = np.asarray(y_true)
    if y.ndim != 1:
        raise MetricsInputError(f"y_true must be one class index per row; got shape {y.shape}")
    matrix = _check_scores(scores, y.shape[0], classes)
    if not np.issubdtype(y.dtype, np.integer):
        raise MetricsInputError("y_true must hold integer class indexes (-1 for unlabelled rows)")
    if ((y < -1) | (y >= classes)).any():
        raise MetricsInputError(f"y_true holds class indexes outside -1..{classes - 1}")
    labelled = y >= 0
    y, matrix = y[labelled], matrix[labelled]
    if y.size == 0:
        raise MetricsInputError("no labelled rows to evaluate")
    rows = y.size
    positives = np.zeros((rows, classes), dtype=bool)
    positives[np.arange(rows), y] = True
    unknown = sorted(set(cuts or {}) - set(labels))
    if unknown:
        raise MetricsInputError(f"cut-offs for {unknown}, which are not classes of the head")
    decided = decide(matrix, cut_vector(labels, threshold, cuts))
    answered = decided != NO_PREDICTION
    predicted = np.zeros((rows, classes), dtype=bool)
    predicted[np.flatnonzero(answered), decided[answered]] = True
    tp = (positives & predicted).sum(axis=0).astype(np.float64)
    fp = (~positives & predicted).sum(axis=0).astype(np.float64)
    fn = (positives & ~predicted).sum(axis=0).astype(np.float64)
    tn = rows - tp - fp - fn
    per_class, pr, roc, table, best, aucs, aps = _per_class(labels, positives, matrix, (tp, fp, fn, tn))
    block = {key: np.array([per_class[label][key] for label in labels]) for key in SUMMARY_KEYS}
    confusion = np.bincount(y[answered] * classes + decided[answered], minlength=classes * classes).reshape(
        classes, classes
    )
    unpredicted = np.bincount(y[~answered], minlength=classes)
    probability = np.clip(matrix[np.arange(rows), y], EPSILON, 1 - EPSILON)
    return {
        "multilabel": False,
        "rows": int(rows),
        "threshold": threshold,
        "cuts": cuts or None,
        "classes": per_class,
        **_averages(block, tp + fn, tp, fp, fn, tn, aucs, aps),
        "accuracy": float((decided == y).mean()),
        "accuracy_ci": wilson(float((decided == y).sum()), rows),
        "loss": float(-np.log(probability).mean()),
        "confusion_matrix": {"labels": labels, "matrix": confusion.tolist(), "unpredicted": unpredicted.tolist()},
        "pr_curve": pr,
        "roc_curve": roc,
        "thresholds": table,
        "best_thresholds": best,
    }


def evaluate_multi_label(
    y_true: ArrayLike,
    scores: ArrayLike,
    labels: list[str],
    *,
    threshold: float = 0.5,
    cuts: dict[str, float] | None = None,
) -> dict[str, Any]:
    """One multi-label head: a 0/1 matrix of true labels (a row of -1: unlabelled); a label is predicted
    where its score reaches its cut-off (``cuts``, else ``threshold``)."""
    classes = len(labels)
    if classes < 1:
        raise MetricsInputError("a head needs at least 1 label")
    y = np.asarray(y_true)
    if y.ndim != 2 or y.shape[1] != classes:
        raise MetricsInputError(f"y_true must have shape (rows, {classes}); got {y.shape}")
    matrix = _check_scores(scores, y.shape[0], classes)
    labelled = (y >= 0).all(axis=1)
    if not labelled.all():
        y, matrix = y[labelled], matrix[labelled]
    if not ((y == 0) | (y == 1)).all():
        raise MetricsInputError("y_true must hold 0 or 1 (or a row of -1 for unlabelled)")
    y = y.astype(bool)
    if y.shape[0] == 0:
        raise MetricsInputError("no labelled rows to evaluate")
    rows = y.shape[0]
    unknown = sorted(set(cuts or {}) - set(labels))
    if unknown:
        raise MetricsInputError(f"cut-offs for {unknown}, which are not labels of the head")
    predicted = matrix >= cut_vector(labels, threshold, cuts)
    # Everything below comes from three counts per row and per label, each one pass over the matrix.
    both = y & predicted
    tp = np.count_nonzero(both, axis=0).astype(np.float64)
    fp = np.count_nonzero(predicted, axis=0) - tp
    fn = np.count_nonzero(y, axis=0) - tp
    tn = rows - tp - fp - fn
    per_class, pr, roc, table, best, aucs, aps = _per_class(labels, y, matrix, (tp, fp, fn, tn))
    block = {key: np.array([per_class[label][key] for label in labels]) for key in SUMMARY_KEYS}
    intersection = np.count_nonzero(both, axis=1)
    true_count = np.count_nonzero(y, axis=1)
    predicted_count = np.count_nonzero(predicted, axis=1)
    union = true_count + predicted_count - intersection
    jaccard = np.where(union > 0, intersection / np.maximum(union, 1), 1.0)
    differing = true_count + predicted_count - 2 * intersection  # labels where truth and prediction differ
    loss = _binary_cross_entropy(y, matrix)
    return {
        "multilabel": True,
        "rows": int(rows),
        "threshold": threshold,
        "cuts": cuts or None,
        "classes": per_class,
        **_averages(block, tp + fn, tp, fp, fn, tn, aucs, aps),
        "accuracy": float(jaccard.mean()),  # the Hamming score: mean |true and predicted| / |true or predicted|
        "hamming_score": float(jaccard.mean()),
        "hamming_loss": float(differing.sum() / y.size),
        "subset_accuracy": float((differing == 0).mean()),
        "loss": loss,
        "confusion_matrix": {
            "labels": labels,
            "per_class": {
                label: [[int(tn[i]), int(fp[i])], [int(fn[i]), int(tp[i])]] for i, label in enumerate(labels)
            },
        },
        "pr_curve": pr,
        "roc_curve": roc,
        "thresholds": table,
        "best_thresholds": best,
    }


def _binary_cross_entropy(y: NDArray[np.bool_], scores: NDArray[np.float64], block_rows: int = 65_536) -> float:
    """Mean binary cross-entropy, in blocks of rows: small reused buffers instead of several full-size
    temporaries (on a million rows x 20 labels, allocating those cost more than the arithmetic)."""
    total = 0.0
    for start in range(0, y.shape[0], block_rows):
        # The probability given to what is true: p where the label is on, 1 - p where it is off (one log).
        truth = np.where(
            y[start : start + block_rows], scores[start : start + block_rows], 1 - scores[start : start + block_rows]
        )
        np.clip(truth, EPSILON, 1 - EPSILON, out=truth)
        np.log(truth, out=truth)
        total -= float(truth.sum())
    return total / y.size


def evaluate(heads: list[HeadInput]) -> dict[str, Any]:
    """Every head, and an overall block averaging the heads' macro metrics, accuracy and loss."""
    if not heads:
        raise MetricsInputError("no heads to evaluate")
    report: dict[str, Any] = {"heads": {}}
    for head in heads:
        if head.multilabel:
            threshold = 0.5 if head.threshold is None else head.threshold
            report["heads"][head.name] = evaluate_multi_label(
                head.y_true, head.scores, head.labels, threshold=threshold, cuts=head.cuts
            )
        else:
            report["heads"][head.name] = evaluate_single_label(
                head.y_true, head.scores, head.labels, threshold=head.threshold, cuts=head.cuts
            )
    reports = list(report["heads"].values())
    overall: dict[str, float | None] = {key: float(np.mean([r["macro"][key] for r in reports])) for key in SUMMARY_KEYS}
    overall["accuracy"] = float(np.mean([r["accuracy"] for r in reports]))
    overall["loss"] = float(np.mean([r["loss"] for r in reports]))
    report["overall"] = overall
    return report


def majority_baseline(heads: list[HeadInput], priors: dict[str, list[float]] | None = None) -> list[HeadInput]:
    """The majority-class predictor: every row gets the class priors as scores (from ``priors``, e.g. the
    training set's, else the test set's own label frequencies)."""
    baseline = []
    for head in heads:
        y = np.asarray(head.y_true)
        if priors is not None and head.name in priors:
            prior = np.asarray(priors[head.name], dtype=np.float64)
        elif head.multilabel:
            labelled = y[(y >= 0).all(axis=1)]
            prior = labelled.mean(axis=0) if labelled.size else np.full(len(head.labels), 0.5)
        else:
            counts = np.bincount(y[y >= 0], minlength=len(head.labels)).astype(np.float64)
            prior = counts / counts.sum() if counts.sum() else np.full(len(head.labels), 1 / len(head.labels))
        scores = np.broadcast_to(prior, (y.shape[0], len(head.labels)))
        baseline.append(
            HeadInput(head.name, head.labels, head.y_true, scores, head.multilabel, head.threshold, head.cuts)
        )
    return baseline


def delta(report: dict[str, Any], baseline: dict[str, Any]) -> dict[str, Any]:
    """The change of every summary metric against a baseline report (model minus baseline)."""

    def diff(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else a - b

    out: dict[str, Any] = {"heads": {}, "overall": {}}
    for name, head in report["heads"].items():
        base = baseline["heads"][name]
        out["heads"][name] = {
            average: {key: diff(head[average][key], base[average].get(key)) for key in head[average]}
            for average in ("macro", "micro", "weighted")
        } | {"accuracy": diff(head["accuracy"], base["accuracy"]), "loss": diff(head["loss"], base["loss"])}
    out["overall"] = {key: diff(value, baseline["overall"].get(key)) for key, value in report["overall"].items()}
    return out
