"""A training run's states and who may move it between them, in one place.

    queued ──worker: started──▶ running ──worker: succeeded──▶ succeeded
      │  ▲                         │  │
      │  └──dispatcher: restart────┘  └──worker | dispatcher: failed──▶ failed
      ├──dispatcher: failed (a permanent refusal, a spec that cannot be built)──▶ failed
      └──api | worker: cancelled (from queued or running)──▶ cancelled

The worker's final events may race the dispatcher's restart (a worker killed just after it reported), so the
worker may also end a run that is queued again. The three ends are final: nothing moves a run out of them."""

from __future__ import annotations

from typing import Literal

from automl_common.db.base import utcnow
from automl_common.errors import Conflict
from trainer_svc.tables import TrainingModel

Status = Literal["queued", "running", "succeeded", "failed", "cancelled"]
Actor = Literal["api", "worker", "dispatcher"]

TERMINAL: tuple[Status, ...] = ("succeeded", "failed", "cancelled")

TRANSITIONS: dict[tuple[str, str], frozenset[Actor]] = {
    ("queued", "running"): frozenset({"worker"}),
    ("running", "running"): frozenset({"worker"}),  # a resumed attempt reports started again
    ("running", "queued"): frozenset({"dispatcher"}),
    ("queued", "succeeded"): frozenset({"worker"}),
    ("running", "succeeded"): frozenset({"worker"}),
    ("queued", "failed"): frozenset({"worker", "dispatcher"}),
    ("running", "failed"): frozenset({"worker", "dispatcher"}),
    ("queued", "cancelled"): frozenset({"api", "worker"}),
    ("running", "cancelled"): frozenset({"api", "worker"}),
}


class IllegalTransition(Conflict):
    pass


def is_terminal(status: str) -> bool:
    return status in TERMINAL


def can_move(current: str, to: Status, actor: Actor) -> bool:
    return actor in TRANSITIONS.get((current, to), frozenset())


def move(model: TrainingModel, to: Status, actor: Actor, *, error: str | None = None) -> None:
    """Move ``model`` to ``to`` on behalf of ``actor``; an end state also stamps ``finished_at``."""
    if not can_move(model.status, to, actor):
        raise IllegalTransition(f"model {model.id!r} is {model.status}; the {actor} cannot make it {to}")
    model.status = to
    if error is not None:
        model.error = error
    if to in TERMINAL:
        model.finished_at = utcnow()
