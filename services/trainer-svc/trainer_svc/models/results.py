"""A finished model's evaluation (metrics.json, scores.npz) and card, read back from the object store."""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from automl_common.errors import InvalidRequest, NotFound
from automl_common.storage import ObjectNotFound, ObjectStore
from automl_proto.metrics import ModelMetrics, RunEvaluation
from automl_proto.training import RunLayout
from modelkit import model_types
from modelkit.metrics import HeadInput, delta, evaluate, majority_baseline
from trainer_svc.models.service import ModelNotFinished
from trainer_svc.tables import TrainingModel


def _require_succeeded(model: TrainingModel) -> None:
    if model.status != "succeeded":
        raise ModelNotFinished(f"model {model.id!r} is {model.status}; metrics come when it has succeeded")


async def _read(store: ObjectStore, key: str) -> bytes:
    try:
        return await store.get_bytes(key)
    except ObjectNotFound as e:
        raise NotFound(f"{key.rsplit('/', 1)[-1]} is missing for this model") from e


@dataclass(frozen=True)
class CutOffs:
    """The cut-offs a metrics view is asked at: ``threshold`` on every class of every head, or, with ``class_``,
    on that one class of ``head`` only (the others decided by score, as a deployment's operating point does)."""

    threshold: float
    class_: str | None = None
    head: str | None = None

    def of(self, head: str) -> tuple[float | None, dict[str, float] | None]:
        if self.class_ is None:
            return self.threshold, None
        return (None, {self.class_: self.threshold}) if head == self.head else (None, None)


def _check(report: dict[str, Any], cut_offs: CutOffs) -> None:
    if cut_offs.class_ is None:
        return
    if cut_offs.head is None:
        raise InvalidRequest("head: name the head whose class the threshold is for")
    classes = report["heads"].get(cut_offs.head, {}).get("classes", {})
    if cut_offs.class_ not in classes:
        raise InvalidRequest(f"threshold_class: {cut_offs.class_!r} is not one of the classes {sorted(classes)}")


def _recompute(stored: RunEvaluation, scores: bytes, cut_offs: CutOffs) -> RunEvaluation:
    """The evaluation with the model's report, its baseline's and the difference all at the cut-offs (the
    baseline from the scores kept beside the model's; a model trained before those were kept gets the test
    set's majority predictor)."""
    baseline_name = stored.baseline_name
    with np.load(io.BytesIO(scores)) as arrays:
        inputs, baselines = [], []
        for position, (name, head) in enumerate(stored.report["heads"].items()):
            threshold, cuts = cut_offs.of(name)
            item = HeadInput(
                name,
                list(head["classes"]),
                arrays[f"y_{position}"],
                arrays[f"scores_{position}"].astype(np.float64),
                head["multilabel"],
                threshold,
                cuts,
            )
            inputs.append(item)
            if f"baseline_{position}" in arrays:
                baselines.append(replace(item, scores=arrays[f"baseline_{position}"].astype(np.float64)))
            else:
                baselines.extend(majority_baseline([item]))
                baseline_name = "the majority-class predictor (test-set class frequencies)"
    model, baseline = evaluate(inputs), evaluate(baselines)
    update = {"report": model, "baseline": baseline, "baseline_name": baseline_name, "delta": delta(model, baseline)}
    return stored.model_copy(update=update)


async def metrics(store: ObjectStore, model: TrainingModel, cut_offs: CutOffs | None, head: str | None) -> ModelMetrics:
    _require_succeeded(model)
    stored = RunEvaluation.model_validate_json(await _read(store, RunLayout(model.output_prefix).metrics))
    if cut_offs is not None and not model_types.info(model.model_type).can("thresholds"):
        raise InvalidRequest(f"threshold: a {model.model_type} model's replies have no scores to apply one to")
    if cut_offs is not None:
        _check(stored.report, cut_offs)
        scores = await _read(store, RunLayout(model.output_prefix).scores)
        stored = await asyncio.to_thread(_recompute, stored, scores, cut_offs)
    heads = stored.report["heads"]
    if head is not None:
        if head not in heads:
            raise InvalidRequest(f"head: {head!r} is not one of the evaluated heads {sorted(heads)}")
        heads = {head: heads[head]}
    return ModelMetrics.model_validate(
        {
            "model_id": model.id,
            "threshold": None if cut_offs is None else cut_offs.threshold,
            "threshold_class": None if cut_offs is None else cut_offs.class_,
            "heads": heads,
            "overall": stored.report["overall"],
            "baseline": {"name": stored.baseline_name, **stored.baseline},
            "delta": stored.delta,
            "epochs": stored.epochs,
            "chosen_epoch": stored.chosen_epoch,
            "chosen_step": stored.chosen_step,
            "selection": stored.selection,
            "stopped_early": stored.stopped_early,
            "kept_heads": stored.kept_heads,
            "training": stored.training,
            "hardest_examples": stored.hardest_examples,
            "leakage": stored.leakage,
            "detection": stored.detection,
            "segmentation": stored.segmentation,
        }
        | stored.generative()
    )


async def card(store: ObjectStore, model: TrainingModel) -> str:
    _require_succeeded(model)
    return (await _read(store, RunLayout(model.output_prefix).card)).decode()
