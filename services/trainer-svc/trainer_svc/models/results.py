"""A finished model's evaluation (metrics.json, scores.npz) and card, read back from the object store."""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

import numpy as np

from automl_common.errors import InvalidRequest, NotFound
from automl_common.storage import ObjectNotFound, ObjectStore
from modelkit import tasks
from modelkit.metrics import HeadInput, evaluate
from trainer_svc.models.service import ModelNotFinished
from trainer_svc.tables import TrainingModel

# What a causal LM's evaluation adds: the examples each part had, rows left out (too many tokens, unusable
# messages), and the greedy replies a deployment must reproduce.
GENERATIVE = ("train_examples", "validation_examples", "test_examples", "left_out", "test_left_out", "parity")


def _require_succeeded(model: TrainingModel) -> None:
    if model.status != "succeeded":
        raise ModelNotFinished(f"model {model.id!r} is {model.status}; metrics come when it has succeeded")


async def _read(store: ObjectStore, key: str) -> bytes:
    try:
        return await store.get_bytes(key)
    except ObjectNotFound as e:
        raise NotFound(f"{key.rsplit('/', 1)[-1]} is missing for this model") from e


def _rethreshold(report: dict[str, Any], scores: bytes, threshold: float) -> dict[str, Any]:
    with np.load(io.BytesIO(scores)) as arrays:
        inputs = [
            HeadInput(
                name,
                list(head["classes"]),
                arrays[f"y_{position}"],
                arrays[f"scores_{position}"].astype(np.float64),
                head["multilabel"],
                threshold,
            )
            for position, (name, head) in enumerate(report["heads"].items())
        ]
    return evaluate(inputs)


async def metrics(
    store: ObjectStore, model: TrainingModel, threshold: float | None, head: str | None
) -> dict[str, Any]:
    _require_succeeded(model)
    stored: dict[str, Any] = json.loads(await _read(store, model.output_prefix + "metrics.json"))
    report = stored["report"]
    if threshold is not None and tasks.info(model.model_type).family != "classifier":
        raise InvalidRequest(f"threshold: a {model.model_type} model's replies have no scores to apply one to")
    if threshold is not None:
        report = await asyncio.to_thread(
            _rethreshold, report, await _read(store, model.output_prefix + "scores.npz"), threshold
        )
    heads = report["heads"]
    if head is not None:
        if head not in heads:
            raise InvalidRequest(f"head: {head!r} is not one of the evaluated heads {sorted(heads)}")
        heads = {head: heads[head]}
    return {
        "model_id": model.id,
        "threshold": threshold,
        "heads": heads,
        "overall": report["overall"],
        "baseline": {"name": stored["baseline_name"], **stored["baseline"]},
        "delta": stored["delta"],
        "epochs": stored["epochs"],
        "chosen_epoch": stored["chosen_epoch"],
        "chosen_step": stored["chosen_step"],
        "selection": stored["selection"],
        "stopped_early": stored["stopped_early"],
        "kept_heads": stored["kept_heads"],
        "training": stored["training"],
        "hardest_examples": stored.get("hardest_examples", {}),
    } | {key: stored[key] for key in GENERATIVE if key in stored}


async def card(store: ObjectStore, model: TrainingModel) -> str:
    _require_succeeded(model)
    return (await _read(store, model.output_prefix + "card.md")).decode()
