"""A deployment's operating point: checked against the model's heads and classes when it is set (the
evaluation trainer-svc keeps says which heads are multi-label), and applied to every prediction of the
deployment (predict, tasks, batch predictions) by re-deciding ``predicted`` from the scores. A detector's is a
score cut-off per class on its one head, ``objects``: sent with each image to the replica, which keeps the
detections at or above their class's cut-off (unless the call sets its own ``score_threshold``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from automl_common.errors import InvalidRequest
from automl_common.http import InternalClient, url_path
from automl_proto.inference import OperatingPointUpdate
from automl_proto.metrics import ModelMetrics
from inference_svc.errors import ModelNotFound
from inference_svc.serving.loader import ModelInput
from modelkit.metrics.decision import decide_one

# A detector's operating point names one head: its classes are the boxes' labels.
OBJECTS_HEAD = "objects"


@dataclass(frozen=True)
class Rule:
    thresholds: dict[str, dict[str, float]]
    multilabel: dict[str, bool]
    detects: bool = False

    @classmethod
    def of(cls, stored: dict[str, Any] | None) -> Rule | None:
        if not stored or not stored.get("thresholds"):
            return None
        return cls(stored["thresholds"], stored.get("multilabel", {}), bool(stored.get("detects", False)))

    def asked(self, inputs: list[ModelInput]) -> list[ModelInput]:
        """A detector's inputs with the per-class cut-offs the replica applies."""
        cuts = self.thresholds.get(OBJECTS_HEAD)
        if not self.detects or not cuts:
            return inputs
        out: list[ModelInput] = []
        for value in inputs:
            if isinstance(value, bytes):
                value = {"image": value}
            out.append({**value, "class_thresholds": cuts} if isinstance(value, dict) else value)
        return out

    def apply(self, outputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for output in outputs:
            heads = output.get("heads") if isinstance(output, dict) else None
            if not heads:
                continue  # a generation, or an input that failed
            for head, cuts in self.thresholds.items():
                answer = heads.get(head)
                if answer is not None:
                    answer["predicted"] = self._decide(answer["scores"], answer["predicted"], cuts, head)
        return outputs

    def _decide(self, scores: dict[str, float], before: list[str], cuts: dict[str, float], head: str) -> list[str]:
        ordered = sorted(scores.items(), key=lambda item: -item[1])
        if self.multilabel.get(head, False):
            # Classes without a cut-off of their own keep the model's decision.
            return [name for name, score in ordered if (score >= cuts[name] if name in cuts else name in before)]
        return decide_one(scores, cuts)


async def checked(trainer: InternalClient, org_id: str, model_id: str, update: OperatingPointUpdate) -> dict[str, Any]:
    """The stored form of ``update``, once every head and class it names is one of the model's."""
    if not update.thresholds:
        return {"thresholds": {}, "multilabel": {}}
    answer = await trainer.request("GET", url_path("/v1/models/{}/metrics", model_id), org_id=org_id)
    if answer.status_code == 404:
        raise ModelNotFound(f"model {model_id!r} not found")
    if answer.status_code != 200:
        raise InvalidRequest(f"operating_point: the model's evaluation cannot be read ({answer.status_code})")
    report = ModelMetrics.model_validate_json(answer.content)
    if report.detection is not None:
        return _detection_cuts(report, update)
    multilabel: dict[str, bool] = {}
    for head, cuts in update.thresholds.items():
        evaluated = report.heads.get(head)
        if evaluated is None or head == "reply":
            raise InvalidRequest(f"operating_point.thresholds: {head!r} is not one of the heads {sorted(report.heads)}")
        unknown = sorted(set(cuts) - set(evaluated.classes))
        if unknown:
            raise InvalidRequest(f"operating_point.thresholds.{head}: {unknown} are not classes of the head")
        multilabel[head] = evaluated.multilabel
    return {"thresholds": update.thresholds, "multilabel": multilabel}


def _detection_cuts(report: ModelMetrics, update: OperatingPointUpdate) -> dict[str, Any]:
    assert report.detection is not None
    for head, cuts in update.thresholds.items():
        if head != OBJECTS_HEAD:
            raise InvalidRequest(f"operating_point.thresholds: a detector's one head is {OBJECTS_HEAD!r}, not {head!r}")
        unknown = sorted(set(cuts) - set(report.detection.per_class))
        if unknown:
            raise InvalidRequest(f"operating_point.thresholds.{head}: {unknown} are not the detector's classes")
    return {"thresholds": update.thresholds, "multilabel": {}, "detects": True}
