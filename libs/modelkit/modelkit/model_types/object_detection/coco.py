"""COCO box metrics, computed by pycocotools itself (the reference implementation) and named as the metric guide
names them: ``coco/bbox_mAP`` (AP at IoU .50:.05:.95), ``coco/bbox_mAP_50``, ``coco/bbox_mAP_75``,
``coco/bbox_mAP_s``, ``_m``, ``_l`` (by object area) and ``coco/bbox_AR@100``; AP per class; a precision-recall
curve per class at IoU 0.5. A figure pycocotools cannot measure (no test object of that size) is None, where
pycocotools prints -1."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

# pycocotools' ``stats`` positions, by the guide's names
STAT_NAMES = {
    "coco/bbox_mAP": 0,
    "coco/bbox_mAP_50": 1,
    "coco/bbox_mAP_75": 2,
    "coco/bbox_mAP_s": 3,
    "coco/bbox_mAP_m": 4,
    "coco/bbox_mAP_l": 5,
    "coco/bbox_AR@1": 6,
    "coco/bbox_AR@10": 7,
    "coco/bbox_AR@100": 8,
    "coco/bbox_AR_s@100": 9,
    "coco/bbox_AR_m@100": 10,
    "coco/bbox_AR_l@100": 11,
}
RECALL_POINTS = np.linspace(0, 1, 101)  # COCO's 101 recall thresholds


@dataclass
class ImageTruth:
    width: int
    height: int
    boxes: NDArray[np.float32]  # (K, 4) [x_min, y_min, x_max, y_max] in the image's pixels
    labels: NDArray[np.int64]  # (K,) class indexes


@dataclass
class ImageDetections:
    boxes: NDArray[np.float32]
    scores: NDArray[np.float32]
    labels: NDArray[np.int64]


@dataclass
class CocoEvaluation:
    metrics: dict[str, float | None]
    per_class: dict[str, dict[str, float | None]]
    pr_curves: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # at IoU 0.5: recall, precision


def _measured(value: float) -> float | None:
    return None if value < 0 else round(float(value), 6)


def coco_documents(
    truths: Sequence[ImageTruth], detections: Sequence[ImageDetections], classes: Sequence[str]
) -> tuple[dict[str, object], list[dict[str, object]]]:
    """The ground truth and the detections in COCO's own formats (boxes as [x, y, width, height])."""
    images: list[dict[str, object]] = []
    annotations: list[dict[str, object]] = []
    results: list[dict[str, object]] = []
    for image_id, truth in enumerate(truths, start=1):
        images.append({"id": image_id, "width": truth.width, "height": truth.height})
        for box, label in zip(truth.boxes, truth.labels, strict=True):
            width, height = float(box[2] - box[0]), float(box[3] - box[1])
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": int(label) + 1,
                    "bbox": [float(box[0]), float(box[1]), width, height],
                    "area": width * height,
                    "iscrowd": 0,
                }
            )
    for image_id, found in enumerate(detections, start=1):
        for box, score, label in zip(found.boxes, found.scores, found.labels, strict=True):
            results.append(
                {
                    "image_id": image_id,
                    "category_id": int(label) + 1,
                    "bbox": [float(box[0]), float(box[1]), float(box[2] - box[0]), float(box[3] - box[1])],
                    "score": float(score),
                }
            )
    categories = [{"id": index + 1, "name": name} for index, name in enumerate(classes)]
    return {"images": images, "annotations": annotations, "categories": categories}, results


def evaluate(
    truths: Sequence[ImageTruth], detections: Sequence[ImageDetections], classes: Sequence[str]
) -> CocoEvaluation:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    ground, results = coco_documents(truths, detections, classes)
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its tables
        truth_api = COCO()
        truth_api.dataset = ground
        truth_api.createIndex()
        found_api = truth_api.loadRes(results) if results else COCO()
        if not results:
            found_api.dataset = {"images": ground["images"], "annotations": [], "categories": ground["categories"]}
            found_api.createIndex()
        evaluator = COCOeval(truth_api, found_api, "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    metrics = {name: _measured(evaluator.stats[position]) for name, position in STAT_NAMES.items()}
    # precision: [IoU threshold, recall point, class, area range (0: all), max detections (2: 100)]
    precision = evaluator.eval["precision"]
    per_class: dict[str, dict[str, float | None]] = {}
    pr_curves: dict[str, dict[str, list[float]]] = {}
    for index, name in enumerate(classes):
        every = precision[:, :, index, 0, 2]
        at_50, at_75 = precision[0, :, index, 0, 2], precision[5, :, index, 0, 2]
        per_class[name] = {
            "AP": _measured(float(np.mean(every[every > -1]))) if (every > -1).any() else None,
            "AP_50": _measured(float(np.mean(at_50[at_50 > -1]))) if (at_50 > -1).any() else None,
            "AP_75": _measured(float(np.mean(at_75[at_75 > -1]))) if (at_75 > -1).any() else None,
        }
        if (at_50 > -1).any():
            pr_curves[name] = {
                "recall": [round(float(value), 4) for value in RECALL_POINTS],
                "precision": [round(max(float(value), 0.0), 4) for value in at_50],
            }
    return CocoEvaluation(metrics, per_class, pr_curves)


def iou(box: NDArray[np.float32], others: NDArray[np.float32]) -> NDArray[np.float32]:
    if len(others) == 0:
        return np.zeros(0, dtype=np.float32)
    x_min = np.maximum(box[0], others[:, 0])
    y_min = np.maximum(box[1], others[:, 1])
    x_max = np.minimum(box[2], others[:, 2])
    y_max = np.minimum(box[3], others[:, 3])
    overlap = np.clip(x_max - x_min, 0, None) * np.clip(y_max - y_min, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    result: NDArray[np.float32] = overlap / np.maximum(area + areas - overlap, 1e-9)
    return result


def image_score(truth: ImageTruth, found: ImageDetections, score_threshold: float = 0.3) -> float:
    """How well one image is detected: F1 of its detections above ``score_threshold`` against its objects,
    matched greedily at IoU 0.5 within a class (1.0 for an empty image with no detection). It picks the best
    and worst test images to show."""
    keep = found.scores >= score_threshold
    boxes, labels = (
        found.boxes[keep][np.argsort(-found.scores[keep])],
        found.labels[keep][np.argsort(-found.scores[keep])],
    )
    if len(truth.boxes) == 0 and len(boxes) == 0:
        return 1.0
    matched = np.zeros(len(truth.boxes), dtype=bool)
    hits = 0
    for box, label in zip(boxes, labels, strict=True):
        candidates = (truth.labels == label) & ~matched
        overlaps = np.where(candidates, iou(box, truth.boxes), 0.0)
        if len(overlaps) and overlaps.max() >= 0.5:
            matched[int(overlaps.argmax())] = True
            hits += 1
    return 2 * hits / (len(truth.boxes) + len(boxes))
