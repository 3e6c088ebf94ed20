"""Canvases of Fashion-MNIST garments (Debian's ``dataset-fashion-mnist``) pasted at random places and scales,
with what each pasted garment is: its box (the tight box of its visible pixels) and its pixels (a mask whose
value is 1 + its class, 0 the background). The detection and segmentation benches train on them, and
`make demo`'s detector."""

from __future__ import annotations

import argparse
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from deploy.local import fashion_mnist

CLASSES = fashion_mnist.CLASSES
SEED = 3
VISIBLE = 30  # a garment's pixel brighter than this is part of it (the canvas's noise stays below 40)


@dataclass
class Canvases:
    images: list[bytes]  # PNG
    boxes: list[NDArray[np.float32]]  # per canvas (K, 4): x_min, y_min, x_max, y_max
    labels: list[NDArray[np.int64]]  # per canvas (K,) class indexes
    masks: list[bytes]  # one-channel PNGs: 0 background, 1 + class where a garment is


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


def canvases(count: int, split: str, args: argparse.Namespace) -> Canvases:
    """``count`` canvases of ``args.canvas`` pixels, each with one to three garments of ``args.min_side`` to
    ``args.max_side`` pixels (``args.synthetic``: rectangles whose height tells the class)."""
    rng = np.random.default_rng(SEED + (0 if split == "train" else 100))
    pictures, labels = garments(count * 3, "train" if split == "train" else "t10k", args.synthetic)
    taken = 0
    made = Canvases([], [], [], [])
    for _ in range(count):
        canvas = rng.integers(0, 40, size=(args.canvas, args.canvas), dtype=np.uint8)
        mask = np.zeros((args.canvas, args.canvas), dtype=np.uint8)
        boxes: list[list[float]] = []
        classes: list[int] = []
        for _ in range(int(rng.integers(1, 4))):
            side = int(rng.integers(args.min_side, args.max_side + 1))
            garment = np.asarray(Image.fromarray(pictures[taken]).resize((side, side), Image.Resampling.BILINEAR))
            label = int(labels[taken])
            taken += 1
            for _attempt in range(10):  # a place that overlaps no garment already there by much
                x, y = (int(value) for value in rng.integers(0, args.canvas - side + 1, size=2))
                ys, xs = np.nonzero(garment > VISIBLE)
                if len(xs) == 0:
                    break
                box = [x + xs.min(), y + ys.min(), x + xs.max() + 1, y + ys.max() + 1]
                if all(_iou(box, other) < 0.2 for other in boxes):
                    region = canvas[y : y + side, x : x + side]
                    np.maximum(region, garment, out=region)
                    mask[y : y + side, x : x + side][garment > VISIBLE] = label + 1
                    boxes.append([float(value) for value in box])
                    classes.append(label)
                    break
        made.images.append(_png(canvas))
        made.masks.append(_png(mask))
        made.boxes.append(np.array(boxes, dtype=np.float32).reshape(-1, 4))
        made.labels.append(np.array(classes, dtype=np.int64))
    return made


def _png(pixels: NDArray[np.uint8]) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(out, "PNG")
    return out.getvalue()


def _iou(a: list[float], b: list[float]) -> float:
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    overlap = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - overlap
    return overlap / union if union else 0.0


def coco_zip(made: Canvases, target: Path) -> Path:
    """The canvases as a detection upload: ``images/`` and a COCO annotation file."""
    categories = [{"id": index + 1, "name": name} for index, name in enumerate(CLASSES)]
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    with zipfile.ZipFile(target, "w") as archive:
        for position, (data, boxes, labels) in enumerate(zip(made.images, made.boxes, made.labels, strict=True)):
            name = f"images/{position:05d}.png"
            archive.writestr(name, data)
            side = Image.open(io.BytesIO(data)).size
            images.append({"id": position + 1, "file_name": name, "width": side[0], "height": side[1]})
            for box, label in zip(boxes.tolist(), labels.tolist(), strict=True):
                x_min, y_min, x_max, y_max = box
                annotations.append(
                    {
                        "id": len(annotations) + 1,
                        "image_id": position + 1,
                        "category_id": int(label) + 1,
                        "bbox": [x_min, y_min, x_max - x_min, y_max - y_min],
                    }
                )
        document = {"images": images, "annotations": annotations, "categories": categories}
        archive.writestr("annotations.json", json.dumps(document))
    return target
