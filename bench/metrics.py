"""The metrics library at scale: a full report for 1,000,000 predictions x 10 classes (single-label) and
x 20 labels (multi-label), against computing the same figures with scikit-learn calls, in one run.

Target: each report under 3 s, and faster than scikit-learn (the ratio is printed).
Run: `python -m bench.metrics [--rows N]`.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn import metrics as skm

from modelkit.metrics import evaluate_multi_label, evaluate_single_label


def sklearn_single(y: np.ndarray, scores: np.ndarray, classes: int) -> None:
    predicted = scores.argmax(axis=1)
    labels = list(range(classes))
    skm.precision_recall_fscore_support(y, predicted, labels=labels, zero_division=0)
    for average in ("macro", "micro", "weighted"):
        skm.precision_recall_fscore_support(y, predicted, labels=labels, average=average, zero_division=0)
    skm.multilabel_confusion_matrix(y, predicted, labels=labels)
    skm.confusion_matrix(y, predicted, labels=labels)
    skm.accuracy_score(y, predicted)
    skm.log_loss(y, scores, labels=labels)
    for index in labels:
        positive = y == index
        skm.roc_auc_score(positive, scores[:, index])
        skm.average_precision_score(positive, scores[:, index])
        skm.roc_curve(positive, scores[:, index])
        skm.precision_recall_curve(positive, scores[:, index])


def sklearn_multi(y: np.ndarray, scores: np.ndarray) -> None:
    predicted = (scores >= 0.5).astype(int)
    skm.precision_recall_fscore_support(y, predicted, zero_division=0)
    for average in ("macro", "micro", "weighted"):
        skm.precision_recall_fscore_support(y, predicted, average=average, zero_division=0)
    skm.multilabel_confusion_matrix(y, predicted)
    skm.hamming_loss(y, predicted)
    skm.jaccard_score(y, predicted, average="samples", zero_division=1)
    for index in range(y.shape[1]):
        skm.log_loss(y[:, index], scores[:, index], labels=[0, 1])
        skm.roc_auc_score(y[:, index], scores[:, index])
        skm.average_precision_score(y[:, index], scores[:, index])
        skm.roc_curve(y[:, index], scores[:, index])
        skm.precision_recall_curve(y[:, index], scores[:, index])


def timed(call) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)

    classes = 10
    y = rng.integers(0, classes, args.rows)
    logits = rng.normal(size=(args.rows, classes)) + 2.0 * np.eye(classes)[y]
    scores = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = [f"class_{index}" for index in range(classes)]
    ours_single = timed(lambda: evaluate_single_label(y, scores, labels))
    theirs_single = timed(lambda: sklearn_single(y, scores, classes))

    label_count = 20
    y_multi = (rng.random((args.rows, label_count)) < 0.3).astype(np.int8)
    scores_multi = np.clip(0.35 * y_multi + rng.random((args.rows, label_count)) * 0.65, 0, 1)
    multi_labels = [f"label_{index}" for index in range(label_count)]
    ours_multi = timed(lambda: evaluate_multi_label(y_multi, scores_multi, multi_labels))
    theirs_multi = timed(lambda: sklearn_multi(y_multi, scores_multi))

    print(f"metrics: full report, {args.rows} rows")
    for name, ours, theirs in (
        (f"single-label x {classes}", ours_single, theirs_single),
        (f"multi-label  x {label_count}", ours_multi, theirs_multi),
    ):
        verdict = "PASS" if ours < 3 and ours < theirs else "MISS"
        print(
            f"  {name}: {ours:.2f} s; scikit-learn for the same figures {theirs:.2f} s: "
            f"{theirs / ours:.1f}x faster ({verdict}: < 3 s and faster)"
        )


if __name__ == "__main__":
    main()
