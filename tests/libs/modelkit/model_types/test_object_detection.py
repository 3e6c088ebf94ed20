"""The detector: targets that decode back to their boxes, COCO figures equal to pycocotools' own, and a tiny
network that learns to find squares and bars."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
import torch

from automl_proto.models import TrainingOptions
from modelkit.model_types.object_detection import ObjectDetection
from modelkit.model_types.object_detection import data as detection_data
from modelkit.model_types.object_detection.coco import (
    ImageDetections,
    ImageTruth,
    coco_documents,
    evaluate,
    image_score,
)
from modelkit.model_types.object_detection.model import DetectorOutput
from modelkit.model_types.object_detection.targets import decode, encode
from modelkit.model_types.object_detection.training import FitSettings, detect, fit
from tests.support.detection import SHAPES, scenes
from tests.support.tiny_models import build_tiny_image_model

CLASSES = sorted(SHAPES)


def test_perfect_targets_decode_to_their_boxes():
    boxes = [np.array([[4, 8, 20, 16], [30, 30, 50, 62]], dtype=np.float32)]
    labels = [np.array([0, 1])]
    targets = encode(boxes, labels, num_classes=2, shape=(16, 16), stride=4)
    assert targets.heat.max() == 1.0
    assert int(targets.mask.sum()) == 2
    size = torch.zeros(1, 2, 16, 16)
    offset = torch.zeros(1, 2, 16, 16)
    for slot in range(2):
        cell = int(targets.index[0, slot])
        size[0, :, cell // 16, cell % 16] = targets.size[0, slot]
        offset[0, :, cell // 16, cell % 16] = targets.offset[0, slot]
    logits = torch.logit(targets.heat.clamp(1e-6, 1 - 1e-6))
    found = decode(DetectorOutput(logits, size, offset), stride=4, max_detections=2)[0]
    order = np.argsort(found.labels)
    np.testing.assert_allclose(found.boxes[order], boxes[0], atol=1e-4)
    assert found.scores.min() > 0.99


def _fixture() -> tuple[list[ImageTruth], list[ImageDetections]]:
    rng = np.random.default_rng(3)
    truths, detections = [], []
    for image in range(6):
        count = int(rng.integers(1, 4))
        corners = rng.uniform(0, 150, size=(count, 2))
        sides = rng.uniform(8, 120, size=(count, 2))  # small, medium and large objects
        boxes = np.concatenate([corners, corners + sides], axis=1).astype(np.float32)
        labels = rng.integers(0, 2, size=count)
        truths.append(ImageTruth(300, 300, boxes, labels))
        jitter = rng.normal(0, 6, size=boxes.shape).astype(np.float32)
        extra = np.array([[10, 10, 40, 40]], dtype=np.float32)
        found_boxes = np.concatenate([boxes + jitter, extra]) if image % 2 else boxes + jitter
        found_labels = np.concatenate([labels, [image % 2]]) if image % 2 else labels
        detections.append(
            ImageDetections(found_boxes, rng.uniform(0.2, 1, size=len(found_boxes)).astype(np.float32), found_labels)
        )
    return truths, detections


def test_the_figures_are_pycocotools_own_under_the_guides_names():
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    truths, detections = _fixture()
    ours = evaluate(truths, detections, ["a", "b"])
    ground, results = coco_documents(truths, detections, ["a", "b"])
    with contextlib.redirect_stdout(io.StringIO()):
        reference = COCO()
        reference.dataset = ground
        reference.createIndex()
        evaluator = COCOeval(reference, reference.loadRes(results), "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    names = ["mAP", "mAP_50", "mAP_75", "mAP_s", "mAP_m", "mAP_l"]
    for position, name in enumerate(names):
        expected = evaluator.stats[position]
        assert ours.metrics[f"coco/bbox_{name}"] == (None if expected < 0 else pytest.approx(expected, abs=1e-6))
    assert ours.metrics["coco/bbox_AR@100"] == pytest.approx(evaluator.stats[8], abs=1e-6)
    overall, at_50 = ours.metrics["coco/bbox_mAP"], ours.metrics["coco/bbox_mAP_50"]
    assert overall is not None and at_50 is not None
    assert 0 < overall < at_50 <= 1
    precision = evaluator.eval["precision"]
    for index, name in enumerate(["a", "b"]):
        per_class = precision[:, :, index, 0, 2]
        assert ours.per_class[name]["AP"] == pytest.approx(per_class[per_class > -1].mean(), abs=1e-6)
        assert len(ours.pr_curves[name]["precision"]) == 101
    # One image's score: all found at the right place -> 1; nothing found -> 0.
    truth = truths[0]
    exact = ImageDetections(truth.boxes, np.ones(len(truth.boxes), dtype=np.float32), truth.labels)
    assert image_score(truth, exact) == 1.0
    nothing = ImageDetections(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))
    assert image_score(truth, nothing) == 0.0


def _images(count: int, seed: int) -> detection_data.DetectionImages:
    made = scenes(count, size=64, seed=seed)
    return detection_data.load(
        [scene.png(index) for index, scene in enumerate(made)],
        [np.array([box for _, box in scene.boxes], dtype=np.float32).reshape(-1, 4) for scene in made],
        [np.array([CLASSES.index(label) for label, _ in scene.boxes], dtype=np.int64) for scene in made],
        size=64,
    )


def test_a_tiny_detector_learns_to_find_squares_and_bars(tmp_path):
    base = build_tiny_image_model(tmp_path / "base")
    task = ObjectDetection()
    model, manifest = task.build(base, CLASSES, TrainingOptions(image_size=64), "full")
    train, test = _images(64, seed=1), _images(24, seed=2)
    settings = FitSettings(max_epochs=10, batch_size=16, learning_rate=1e-2, augment=False)
    history = fit(model, train, test, settings, manifest.normalise)
    assert history[-1].loss < history[0].loss / 5
    assert history[-1].val_loss is not None
    found = detect(model, test.pixels, test.sizes, manifest.normalise)
    truths = [
        ImageTruth(64, 64, detection_data.to_image(boxes, 64, 64, 64), labels)
        for boxes, labels in zip(test.boxes, test.labels, strict=True)
    ]
    report = evaluate(truths, [ImageDetections(f.boxes, f.scores, f.labels) for f in found], CLASSES)
    # a random 2-block backbone: 0.53 seen
    assert (report.metrics["coco/bbox_mAP_50"] or 0) > 0.3, report.metrics

    # Saved and loaded, it finds the same.
    task.save(model, manifest, tmp_path / "model")
    loaded, _ = task.load(tmp_path / "model")
    again = detect(loaded, test.pixels[:4], test.sizes[:4], manifest.normalise)
    np.testing.assert_allclose(again[0].boxes, found[0].boxes, atol=1e-4)


def test_the_last_layer_method_trains_the_pyramid_and_heads_only(tmp_path):
    base = build_tiny_image_model(tmp_path / "base")
    model, manifest = ObjectDetection().build(base, CLASSES, TrainingOptions(image_size=64), "last_layer")
    backbone = {name: value.clone() for name, value in model.backbone.state_dict().items()}
    heads = {name: value.clone() for name, value in model.heat.state_dict().items()}
    settings = FitSettings(max_epochs=3, batch_size=16, learning_rate=1e-2, augment=True)
    history = fit(model, _images(32, seed=1), None, settings, manifest.normalise)
    assert history[-1].loss < history[0].loss
    assert all(torch.equal(value, model.backbone.state_dict()[name]) for name, value in backbone.items())
    assert not all(torch.equal(value, model.heat.state_dict()[name]) for name, value in heads.items())


def test_augmentation_moves_boxes_with_the_image():
    augment = detection_data.BoxAugment(seed=0)
    pixels = torch.zeros(3, 64, 64)
    pixels[:, 10:20, 40:60] = 255.0
    boxes = np.array([[40, 10, 60, 20]], dtype=np.float32)
    for _ in range(20):
        moved, moved_boxes, labels = augment(pixels, boxes, np.array([1]))
        for box in moved_boxes:
            x_min, y_min, x_max, y_max = (round(float(value)) for value in box)
            inside = moved[0, y_min + 1 : y_max - 1, x_min + 1 : x_max - 1]
            assert inside.numel() == 0 or float(inside.mean()) > 200, box
        assert len(labels) == len(moved_boxes)
