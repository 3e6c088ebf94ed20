"""The run status machine: who may move a run where, and that the end states are final."""

from __future__ import annotations

import itertools

import pytest

from trainer_svc.models import status
from trainer_svc.tables import TrainingModel

STATES = ("queued", "running", "succeeded", "failed", "cancelled")
ACTORS = ("api", "worker", "dispatcher")


def run(current: str) -> TrainingModel:
    return TrainingModel(id="mdl_test", status=current, error=None, finished_at=None)


@pytest.mark.parametrize(
    ("current", "to", "actor"),
    [
        ("queued", "running", "worker"),
        ("running", "succeeded", "worker"),
        ("running", "failed", "dispatcher"),
        ("running", "queued", "dispatcher"),
        ("queued", "cancelled", "api"),
        ("running", "cancelled", "api"),
        ("queued", "failed", "dispatcher"),
    ],
)
def test_allowed_moves(current: str, to: status.Status, actor: status.Actor) -> None:
    model = run(current)
    status.move(model, to, actor, error="why" if to == "failed" else None)
    assert model.status == to
    assert (model.finished_at is not None) == (to in status.TERMINAL)
    assert model.error == ("why" if to == "failed" else None)


@pytest.mark.parametrize(
    ("current", "to", "actor"),
    [
        ("queued", "running", "api"),  # only the worker says it started
        ("running", "succeeded", "dispatcher"),  # only the worker has the results
        ("running", "queued", "worker"),
        ("queued", "cancelled", "dispatcher"),
    ],
)
def test_refused_moves(current: str, to: status.Status, actor: status.Actor) -> None:
    model = run(current)
    with pytest.raises(status.IllegalTransition, match=f"is {current}; the {actor} cannot make it {to}"):
        status.move(model, to, actor)
    assert model.status == current and model.finished_at is None


def test_end_states_are_final_for_everyone() -> None:
    for current, to, actor in itertools.product(status.TERMINAL, STATES, ACTORS):
        assert not status.can_move(current, to, actor), (current, to, actor)  # type: ignore[arg-type]
