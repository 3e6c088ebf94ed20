"""Edge cases answer documented values or clear errors, never a crash or a silent NaN."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from modelkit.metrics import (
    HeadInput,
    MetricsInputError,
    delta,
    evaluate,
    evaluate_multi_label,
    evaluate_single_label,
    majority_baseline,
)


def no_nan(value: object) -> None:
    """Every number in a report is finite (None stands for undefined)."""
    json.dumps(value, allow_nan=False)


def test_a_class_absent_from_the_test_set():
    y = np.array([0, 0, 1, 1, 0])
    scores = np.array([[0.8, 0.1, 0.1], [0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.3, 0.3, 0.4], [0.5, 0.4, 0.1]])
    report = evaluate_single_label(y, scores, ["a", "b", "c"])
    absent = report["classes"]["c"]
    assert absent["support"] == 0
    assert absent["recall"] == 0.0
    assert absent["roc_auc"] is None
    assert absent["average_precision"] is None
    assert report["pr_curve"]["c"] == {"precision": [], "recall": [], "thresholds": []}
    assert report["macro"]["roc_auc"] == pytest.approx(
        (report["classes"]["a"]["roc_auc"] + report["classes"]["b"]["roc_auc"]) / 2
    )
    no_nan(report)


def test_a_single_class_test_set():
    y = np.zeros(4, dtype=int)
    scores = np.array([[0.9, 0.1], [0.4, 0.6], [0.7, 0.3], [0.5, 0.5]])
    report = evaluate_single_label(y, scores, ["a", "b"])
    assert report["classes"]["a"]["roc_auc"] is None  # no negatives
    assert report["classes"]["a"]["average_precision"] == 1.0
    assert report["classes"]["b"]["roc_auc"] is None
    assert report["accuracy"] == 0.75  # a tie (row 3) goes to the first class
    no_nan(report)


def test_constant_scores():
    y = np.array([0, 1, 0, 1, 1])
    scores = np.full((5, 2), 0.5)
    report = evaluate_single_label(y, scores, ["a", "b"])
    assert report["classes"]["a"]["roc_auc"] == 0.5
    assert report["classes"]["b"]["average_precision"] == pytest.approx(0.6)
    assert report["loss"] == pytest.approx(math.log(2))
    no_nan(report)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_infinite_scores_are_refused(bad):
    scores = np.array([[0.5, 0.5], [bad, 0.2]])
    with pytest.raises(MetricsInputError, match="NaN or infinite values \\(first at row 1\\)"):
        evaluate_single_label(np.array([0, 1]), scores, ["a", "b"])
    with pytest.raises(MetricsInputError, match="NaN or infinite"):
        evaluate_multi_label(np.array([[0, 1], [1, 0]]), scores, ["a", "b"])


def test_mismatched_lengths_and_shapes():
    with pytest.raises(MetricsInputError, match="3 labels but 2 rows of scores"):
        evaluate_single_label(np.array([0, 1, 0]), np.full((2, 2), 0.5), ["a", "b"])
    with pytest.raises(MetricsInputError, match="shape"):
        evaluate_single_label(np.array([0, 1]), np.full((2, 3), 0.3), ["a", "b"])
    with pytest.raises(MetricsInputError, match=r"outside -1\.\.1"):
        evaluate_single_label(np.array([0, 2]), np.full((2, 2), 0.5), ["a", "b"])
    with pytest.raises(MetricsInputError, match="integer"):
        evaluate_single_label(np.array([0.0, 1.0]), np.full((2, 2), 0.5), ["a", "b"])
    with pytest.raises(MetricsInputError, match="0 or 1"):
        evaluate_multi_label(np.array([[0, 2], [1, 0]]), np.full((2, 2), 0.5), ["a", "b"])
    with pytest.raises(MetricsInputError, match="at least 2 classes"):
        evaluate_single_label(np.array([0]), np.full((1, 1), 1.0), ["a"])


def test_unlabelled_rows_are_left_out():
    y = np.array([0, -1, 1, -1])
    scores = np.array([[0.9, 0.1], [0.1, 0.9], [0.2, 0.8], [0.9, 0.1]])
    report = evaluate_single_label(y, scores, ["a", "b"])
    assert report["rows"] == 2
    assert report["accuracy"] == 1.0
    with pytest.raises(MetricsInputError, match="no labelled rows"):
        evaluate_single_label(np.array([-1, -1]), scores[:2], ["a", "b"])
    multi = evaluate_multi_label(
        np.array([[1, 0], [-1, -1], [0, 1]]), np.array([[0.9, 0.2], [0.5, 0.5], [0.1, 0.7]]), ["x", "y"]
    )
    assert multi["rows"] == 2
    assert multi["hamming_score"] == 1.0


def test_overall_baseline_and_delta():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 300)
    logits = rng.normal(size=(300, 3)) + 3 * np.eye(3)[y]
    scores = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    tags = (rng.random((300, 4)) < 0.4).astype(int)
    tag_scores = np.clip(tags * 0.6 + rng.random((300, 4)) * 0.4, 0, 1)
    heads = [
        HeadInput("topic", ["a", "b", "c"], y, scores),
        HeadInput("tags", ["t1", "t2", "t3", "t4"], tags, tag_scores, multilabel=True),
    ]
    report = evaluate(heads)
    baseline = evaluate(majority_baseline(heads))
    change = delta(report, baseline)
    majority = np.bincount(y).argmax()
    assert baseline["heads"]["topic"]["accuracy"] == pytest.approx(np.mean(y == majority))
    assert report["overall"]["f1"] == pytest.approx(
        np.mean([report["heads"]["topic"]["macro"]["f1"], report["heads"]["tags"]["macro"]["f1"]])
    )
    assert change["heads"]["topic"]["accuracy"] == pytest.approx(
        report["heads"]["topic"]["accuracy"] - baseline["heads"]["topic"]["accuracy"]
    )
    assert change["overall"]["f1"] > 0.3
    assert change["heads"]["topic"]["macro"]["roc_auc"] > 0.3
    no_nan(report)
    no_nan(baseline)


def test_threshold_table_and_best_f1():
    y = np.array([0, 0, 0, 1, 1, 1])
    scores = np.array([[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.3, 0.7], [0.45, 0.55], [0.65, 0.35]])
    report = evaluate_single_label(y, scores, ["neg", "pos"])
    table = report["thresholds"]["pos"]
    assert [row["threshold"] for row in table][:3] == [0.05, 0.1, 0.15]
    at_half = next(row for row in table if row["threshold"] == 0.5)
    assert (at_half["precision"], at_half["recall"], at_half["fpr"]) == (1.0, pytest.approx(2 / 3), 0.0)
    assert report["best_thresholds"]["pos"] == {"threshold": 0.35, "f1": pytest.approx(6 / 7)}
    at_threshold = evaluate_single_label(y, scores, ["neg", "pos"], threshold=0.5)
    assert at_threshold["classes"]["pos"]["recall"] == pytest.approx(2 / 3)
