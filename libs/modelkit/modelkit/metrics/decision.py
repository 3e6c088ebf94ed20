"""How a single-label head decides at cut-offs: one rule for the evaluation at a threshold and for a deployment's
operating point, so the figures shown at a cut-off are what a deployment with that cut-off does.

The rule: the highest-scoring class whose score reaches its cut-off; where none does, the highest-scoring
class that has no cut-off; where every class has one and none is reached, no prediction. With no cut-off this
is the argmax; a cut-off on one class of a binary head is the usual "positive at score >= t"; one cut-off on
every class predicts the top class only when it reaches it.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

NO_PREDICTION = -1


def cut_vector(labels: list[str], threshold: float | None, cuts: Mapping[str, float] | None) -> NDArray[np.float64]:
    """Per class its cut-off (NaN: none): ``threshold`` for every class, then ``cuts`` per class over it."""
    vector = np.full(len(labels), np.nan if threshold is None else threshold, dtype=np.float64)
    for name, cut in (cuts or {}).items():
        vector[labels.index(name)] = cut
    return vector


def decide(scores: NDArray[np.float64], cuts: NDArray[np.float64]) -> NDArray[np.int64]:
    """Per row the class index the rule picks, or ``NO_PREDICTION`` (-1)."""
    has_cut = ~np.isnan(cuts)
    if not has_cut.any():
        argmax: NDArray[np.int64] = scores.argmax(axis=1).astype(np.int64)
        return argmax
    reached = has_cut & (scores >= np.where(has_cut, cuts, np.inf))
    best_reached = np.where(reached, scores, -np.inf)
    best_uncut = np.where(has_cut, -np.inf, scores)
    chosen = np.where(reached.any(axis=1), best_reached.argmax(axis=1), best_uncut.argmax(axis=1))
    undecided = ~reached.any(axis=1) & has_cut.all()
    return np.where(undecided, NO_PREDICTION, chosen).astype(np.int64)


def decide_one(scores: Mapping[str, float], cuts: Mapping[str, float]) -> list[str]:
    """The rule on one answer's scores by class name: ``[class]``, or ``[]`` for no prediction."""
    labels = list(scores)
    matrix = np.array([[scores[name] for name in labels]], dtype=np.float64)
    (index,) = decide(matrix, cut_vector(labels, None, {k: v for k, v in cuts.items() if k in scores}))
    return [] if index == NO_PREDICTION else [labels[int(index)]]
