"""Property-based checks: every metric equals scikit-learn's on random inputs, to 1e-9."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from modelkit.metrics import evaluate_multi_label, evaluate_single_label

TOLERANCE = 1e-9
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def single_label_inputs(draw):
    classes = draw(st.integers(2, 6))
    rows = draw(st.integers(classes, 150))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, rows)
    logits = rng.normal(size=(rows, classes)) * draw(st.sampled_from([0.5, 1.0, 3.0]))
    if draw(st.booleans()):  # coarse scores: many ties
        logits = np.round(logits, 1)
    scores = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, scores, classes


@st.composite
def multi_label_inputs(draw):
    # At least two labels: scikit-learn reads a single column as a binary target, not a multi-label one.
    classes = draw(st.integers(2, 6))
    rows = draw(st.integers(2, 150))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    y = (rng.random((rows, classes)) < draw(st.sampled_from([0.2, 0.5, 0.8]))).astype(int)
    scores = rng.random((rows, classes))
    if draw(st.booleans()):
        scores = np.round(scores, 1)
    return y, scores, classes


def close(a, b) -> None:
    assert a == pytest.approx(b, abs=TOLERANCE, rel=TOLERANCE)


@SETTINGS
@given(single_label_inputs())
def test_single_label_metrics_match_sklearn(data):
    y, scores, classes = data
    labels = [f"c{i}" for i in range(classes)]
    check_single_label(evaluate_single_label(y, scores, labels), y, scores, scores.argmax(axis=1), labels)


def rule(row: np.ndarray, cuts: dict[int, float]) -> int:
    """The operating point's rule, row by row in plain Python: the best class reaching its cut-off, else the
    best class without one, else -1."""
    reached = [c for c in range(len(row)) if c in cuts and row[c] >= cuts[c]]
    if reached:
        return max(reached, key=lambda c: (row[c], -c))
    free = [c for c in range(len(row)) if c not in cuts]
    return max(free, key=lambda c: (row[c], -c)) if free else -1


@SETTINGS
@given(single_label_inputs(), st.sampled_from([0.05, 0.2, 0.35, 0.5, 0.65, 0.8, 0.95]), st.booleans(), st.data())
def test_every_figure_at_a_cut_off_matches_sklearn(data, threshold, one_class, draw):
    """At a threshold (every class) or a cut-off on one class, every figure is of the decision the operating
    point makes: accuracy and the confusion matrix included, rows no class reaches counted as wrong."""
    y, scores, classes = data
    labels = [f"c{i}" for i in range(classes)]
    if one_class:
        chosen = draw.draw(st.integers(0, classes - 1))
        report = evaluate_single_label(y, scores, labels, cuts={labels[chosen]: threshold})
        cuts = {chosen: threshold}
    else:
        report = evaluate_single_label(y, scores, labels, threshold=threshold)
        cuts = dict.fromkeys(range(classes), threshold)
    predicted = np.array([rule(row, cuts) for row in scores])
    check_single_label(report, y, scores, predicted, labels)
    unpredicted = [int(((y == c) & (predicted == -1)).sum()) for c in range(classes)]
    assert report["confusion_matrix"]["unpredicted"] == unpredicted


def check_single_label(report, y, scores, predicted, labels):
    classes = len(labels)
    everything = list(range(classes))
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        y, predicted, labels=everything, zero_division=0
    )
    confusion = skm.multilabel_confusion_matrix(y, predicted, labels=everything)
    for index, label in enumerate(labels):
        got = report["classes"][label]
        close(got["precision"], precision[index])
        close(got["recall"], recall[index])
        close(got["f1"], f1[index])
        assert got["support"] == support[index]
        (tn, fp), (fn, tp) = confusion[index]
        assert (got["tn"], got["fp"], got["fn"], got["tp"]) == (tn, fp, fn, tp)
        specificity = tn / (tn + fp) if tn + fp else 0.0
        close(got["specificity"], specificity)
        close(got["balanced_accuracy"], (recall[index] + specificity) / 2)
        positive = y == index
        if positive.any() and not positive.all():
            close(got["roc_auc"], skm.roc_auc_score(positive, scores[:, index]))
        else:
            assert got["roc_auc"] is None
        if positive.any():
            close(got["average_precision"], skm.average_precision_score(positive, scores[:, index]))
        else:
            assert got["average_precision"] is None
    for average in ("macro", "micro", "weighted"):
        p, r, f, _ = skm.precision_recall_fscore_support(
            y, predicted, labels=everything, average=average, zero_division=0
        )
        close(report[average]["precision"], p)
        close(report[average]["recall"], r)
        close(report[average]["f1"], f)
    close(report["accuracy"], skm.accuracy_score(y, predicted))
    close(report["loss"], skm.log_loss(y, scores, labels=everything))
    assert report["confusion_matrix"]["matrix"] == skm.confusion_matrix(y, predicted, labels=everything).tolist()


@SETTINGS
@given(multi_label_inputs())
def test_multi_label_metrics_match_sklearn(data):
    y, scores, classes = data
    labels = [f"l{i}" for i in range(classes)]
    report = evaluate_multi_label(y, scores, labels, threshold=0.5)
    predicted = (scores >= 0.5).astype(int)
    precision, recall, f1, support = skm.precision_recall_fscore_support(y, predicted, zero_division=0)
    for index, label in enumerate(labels):
        got = report["classes"][label]
        close(got["precision"], precision[index])
        close(got["recall"], recall[index])
        close(got["f1"], f1[index])
        assert got["support"] == support[index]
        column = y[:, index].astype(bool)
        if column.any() and not column.all():
            close(got["roc_auc"], skm.roc_auc_score(column, scores[:, index]))
        if column.any():
            close(got["average_precision"], skm.average_precision_score(column, scores[:, index]))
    for average in ("macro", "micro", "weighted"):
        p, r, f, _ = skm.precision_recall_fscore_support(y, predicted, average=average, zero_division=0)
        close(report[average]["precision"], p)
        close(report[average]["recall"], r)
        close(report[average]["f1"], f)
    close(report["hamming_loss"], skm.hamming_loss(y, predicted))
    close(report["hamming_score"], skm.jaccard_score(y, predicted, average="samples", zero_division=1))
    close(report["subset_accuracy"], skm.accuracy_score(y, predicted))
    expected_loss = np.mean([skm.log_loss(y[:, i], scores[:, i], labels=[0, 1]) for i in range(classes)])
    close(report["loss"], expected_loss)
    matrices = skm.multilabel_confusion_matrix(y, predicted)
    for index, label in enumerate(labels):
        assert report["confusion_matrix"]["per_class"][label] == matrices[index].tolist()


@SETTINGS
@given(single_label_inputs())
def test_curves_and_thresholds_match_sklearn(data):
    y, scores, classes = data
    report = evaluate_single_label(y, scores, [f"c{i}" for i in range(classes)])
    positive = y == 0
    if not positive.any() or positive.all():
        return
    precision, recall, _thresholds = skm.precision_recall_curve(positive, scores[:, 0])
    best = np.argmax(
        np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-300), 0)[:-1]
    )
    close(
        report["best_thresholds"]["c0"]["f1"],
        2 * precision[best] * recall[best] / (precision[best] + recall[best])
        if precision[best] + recall[best]
        else 0.0,
    )
    for row in report["thresholds"]["c0"]:
        predicted = scores[:, 0] >= row["threshold"]
        close(row["precision"], skm.precision_score(positive, predicted, zero_division=0))
        close(row["recall"], skm.recall_score(positive, predicted, zero_division=0))
        close(row["f1"], skm.f1_score(positive, predicted, zero_division=0))
    curve = report["roc_curve"]["c0"]
    assert len(curve["fpr"]) <= 200
    assert curve["fpr"][0] == 0.0 and curve["tpr"][-1] == 1.0
