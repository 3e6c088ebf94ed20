"""Evaluation metrics: per class, per head and overall, with curves, threshold tables and baselines."""

from modelkit.metrics.report import (
    HeadInput,
    MetricsInputError,
    delta,
    evaluate,
    evaluate_multi_label,
    evaluate_single_label,
    majority_baseline,
)

__all__ = [
    "HeadInput",
    "MetricsInputError",
    "delta",
    "evaluate",
    "evaluate_multi_label",
    "evaluate_single_label",
    "majority_baseline",
]
