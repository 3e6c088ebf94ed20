"""Model selection and early stopping on the validation report."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from automl_proto.models import Selection


def selection_name(selection: Selection) -> str:
    parts: list[str] = [selection.metric]
    if selection.head is not None:
        parts.append(selection.head)
    if selection.class_ is not None:
        parts.append(selection.class_)
    return "val_" + ":".join(parts)


def selection_value(report: dict[str, Any], selection: Selection) -> float:
    """The selection metric read from a validation report; ``loss`` is lower-is-better, the rest higher."""
    if selection.head is None:
        block = report["overall"]
        if selection.metric in ("average_precision", "roc_auc"):
            values = [head["macro"].get(selection.metric) for head in report["heads"].values()]
            present = [value for value in values if value is not None]
            return sum(present) / len(present) if present else 0.0
    else:
        head = report["heads"][selection.head]
        if selection.class_ is not None:
            block = head["classes"][selection.class_]
        elif selection.metric in ("accuracy", "loss"):
            block = head
        else:
            block = head["macro"]
    value = block.get(selection.metric)
    return 0.0 if value is None else float(value)


@dataclass
class Selector:
    """Tracks the best evaluation and how many evaluations in a row failed to beat it by ``min_delta``."""

    lower_is_better: bool
    min_delta: float = 0.0
    best: float | None = None
    best_epoch: float | None = None
    best_step: int | None = None
    stale: int = 0

    def offer(self, value: float, epoch: float, step: int) -> bool:
        """True when ``value`` is the new best (then the caller keeps these weights)."""
        if self.best is None or self._improves(value, self.best, 0.0):
            improved_enough = self.best is None or self._improves(value, self.best, self.min_delta)
            self.best, self.best_epoch, self.best_step = value, epoch, step
            self.stale = 0 if improved_enough else self.stale + 1
            return True
        self.stale += 1
        return False

    def _improves(self, value: float, best: float, delta: float) -> bool:
        return value < best - delta if self.lower_is_better else value > best + delta

    def state(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "best_step": self.best_step, "stale": self.stale}

    def load(self, state: dict[str, Any]) -> None:
        self.best, self.best_epoch = state["best"], state["best_epoch"]
        self.best_step, self.stale = state["best_step"], state["stale"]
