"""A classifier run's evaluation: its scores on the test rows, the report, and the baseline it is measured
against (the parent model on the same rows for the heads it has, else the majority-class predictor), with
the hardest examples per class."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from modelkit.classifier import HeadConfig, MultiHeadClassifier
from modelkit.examples import hardest
from modelkit.metrics import HeadInput, delta, evaluate, majority_baseline
from modelkit.training.data import Examples
from modelkit.training.trainer import embed_examples, head_scores, report_for

if TYPE_CHECKING:
    from modelkit.model_types.base import ClassifierTask
    from trainer_svc.worker.classifier import Inputs

HARDEST_PER_CLASS = 3
HARDEST_MAX_CLASSES = 50
ParentScores = Callable[["Inputs"], "tuple[list[HeadConfig], list[NDArray[np.float64]]] | None"]


@dataclass
class Scored:
    scores: list[NDArray[np.float64]]
    report: dict[str, Any]
    inputs: list[HeadInput]
    baseline_inputs: list[HeadInput]
    baseline: dict[str, Any]
    baseline_name: str
    change: dict[str, Any]

    def arrays(self) -> dict[str, NDArray[Any]]:
        """``scores.npz``: per head, the labels, the model's scores and the baseline's (so that the improvement
        at another cut-off is recomputed as well)."""
        arrays: dict[str, NDArray[Any]] = {}
        for position, (item, base) in enumerate(zip(self.inputs, self.baseline_inputs, strict=True)):
            arrays[f"y_{position}"] = np.asarray(item.y_true)
            arrays[f"scores_{position}"] = np.asarray(item.scores, dtype=np.float32)
            arrays[f"baseline_{position}"] = np.asarray(base.scores, dtype=np.float32)
        return arrays

    def summary(self, selection: dict[str, Any], chosen_epoch: float | None, test_rows: int) -> dict[str, Any]:
        """What the ``succeeded`` event carries (shown with the model)."""
        heads = self.report["heads"]
        return {
            "overall": self.report["overall"],
            "heads": {
                item.name: {key: heads[item.name][key] for key in ("accuracy", "loss")}
                | {"f1": heads[item.name]["macro"]["f1"]}
                for item in self.inputs
            },
            "delta_overall": self.change["overall"],
            "baseline": self.baseline_name,
            "chosen_epoch": chosen_epoch,
            "selection": selection,
            "test_rows": test_rows,
        }


def evaluate_run(prepared: Inputs, precision: Any, parent_scores: ParentScores, parent_label: str = "") -> Scored:
    model, test = prepared.model, prepared.test
    scores = head_scores(model, embed_examples(model, test, precision, prepared.cache).vectors)
    report = report_for(model, test, scores)
    inputs = [
        HeadInput(head.name, head.classes, target.values, head_scores_, head.multilabel)
        for head, target, head_scores_ in zip(model.spec.heads, test.targets, scores, strict=True)
        if head.name in report["heads"]
    ]
    baseline_inputs = majority_baseline(inputs, priors(model, prepared.train))
    baseline_name = "the majority-class predictor (training-set class frequencies)"
    parent = parent_scores(prepared)
    if parent is not None:
        baseline_inputs = parent_baseline(*parent, len(prepared.test_rows.inputs), inputs, baseline_inputs)
        baseline_name = f"the parent model {parent_label} on the same test rows"
    baseline = evaluate(baseline_inputs)
    return Scored(scores, report, inputs, baseline_inputs, baseline, baseline_name, delta(report, baseline))


def parent_baseline(
    heads: list[HeadConfig],
    parent_scores: list[NDArray[np.float64]],
    rows: int,
    inputs: list[HeadInput],
    fallback: list[HeadInput],
) -> list[HeadInput]:
    """The parent's scores on the same rows for the heads it has; the majority predictor for new heads."""
    by_name = {head.name: (head, scores) for head, scores in zip(heads, parent_scores, strict=True)}
    out = []
    for item, majority in zip(inputs, fallback, strict=True):
        if item.name not in by_name:
            out.append(majority)
            continue
        head, scores = by_name[item.name]
        columns = np.zeros((rows, len(item.labels)))
        for position, label in enumerate(item.labels):
            if label in head.classes:
                columns[:, position] = scores[:, head.classes.index(label)]
        if not item.multilabel:
            sums = columns.sum(axis=1, keepdims=True)
            columns = np.where(sums > 0, columns / np.maximum(sums, 1e-12), 1.0 / len(item.labels))
        out.append(HeadInput(item.name, item.labels, item.y_true, columns, item.multilabel, item.threshold))
    return out


def hardest_examples(task: ClassifierTask, prepared: Inputs, scores: list[NDArray[np.float64]]) -> dict[str, Any]:
    """Per evaluated head and class, the test rows scored lowest for their own class, as the type shows
    them (the text's start, a thumbnail) with the row's snapshot id."""
    test, rows = prepared.test, prepared.test_rows
    out: dict[str, Any] = {}
    for head, target, head_scores_ in zip(prepared.model.spec.heads, test.targets, scores, strict=True):
        if not target.labelled().any():
            continue
        per_class = hardest(head, target, head_scores_, HARDEST_PER_CLASS)
        out[head.name] = {
            name: [
                {
                    "row_id": rows.row_ids[example.position] if rows.row_ids else None,
                    "score": example.score,
                    "predicted": example.predicted,
                    **task.preview(rows.inputs[example.position], test.inputs, example.position),
                }
                for example in examples
            ]
            for name, examples in list(per_class.items())[:HARDEST_MAX_CLASSES]
        }
    return out


def priors(model: MultiHeadClassifier, train: Examples) -> dict[str, list[float]]:
    priors: dict[str, list[float]] = {}
    for head, target in zip(model.spec.heads, train.targets, strict=True):
        labelled = target.values[target.labelled()]
        if not len(labelled):
            continue
        if head.multilabel:
            priors[head.name] = labelled.mean(axis=0).tolist()
        else:
            counts = np.bincount(labelled, minlength=len(head.classes)).astype(float)
            priors[head.name] = (counts / counts.sum()).tolist()
    return priors
