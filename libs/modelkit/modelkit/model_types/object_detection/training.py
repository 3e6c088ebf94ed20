"""Training a detector and running it: AdamW with a warm-up and a cosine decay (``vision.Optimisation``), the
CenterNet losses per epoch under the metric guide's names (``loss_cls``, ``loss_bbox``, ``loss``), and
detections in the original images' pixels."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from modelkit.model_types.object_detection.data import BoxAugment, DetectionImages, to_image
from modelkit.model_types.object_detection.model import CenterNet
from modelkit.model_types.object_detection.targets import Detections, decode, encode, losses
from modelkit.model_types.vision import FitSettings, Normalise, Optimisation

__all__ = ["EpochLosses", "FitSettings", "Normalise", "detect", "evaluate_loss", "fit"]


@dataclass
class EpochLosses:
    epoch: int
    loss_cls: float
    loss_bbox: float
    loss: float
    val_loss: float | None = None
    val_loss_cls: float | None = None
    val_loss_bbox: float | None = None


def _batch(
    model: CenterNet, images: DetectionImages, positions: list[int], normalise: Normalise, augment: BoxAugment | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    pixels, boxes, labels = [], [], []
    for position in positions:
        image = torch.from_numpy(images.pixels[position])
        image_boxes, image_labels = images.boxes[position], images.labels[position]
        if augment is not None:
            image, image_boxes, image_labels = augment(image, image_boxes, image_labels)
        pixels.append(image.float())
        boxes.append(image_boxes)
        labels.append(image_labels)
    batch = normalise(torch.stack(pixels))
    output = model(batch)
    shape = (int(output.heat.shape[2]), int(output.heat.shape[3]))
    targets = encode(boxes, labels, model.num_classes, shape, model.stride)
    loss_cls, loss_bbox = losses(output, targets)
    return loss_cls, loss_bbox, loss_cls + loss_bbox


@torch.no_grad()
def evaluate_loss(
    model: CenterNet, images: DetectionImages, normalise: Normalise, batch_size: int
) -> tuple[float, float, float]:
    model.eval()
    totals = np.zeros(3)
    for start in range(0, len(images), batch_size):
        positions = list(range(start, min(start + batch_size, len(images))))
        parts = _batch(model, images, positions, normalise, None)
        totals += np.array([float(part) for part in parts]) * len(positions)
    cls, bbox, total = totals / max(len(images), 1)
    return float(cls), float(bbox), float(total)


def fit(
    model: CenterNet,
    train: DetectionImages,
    validation: DetectionImages | None,
    settings: FitSettings,
    normalise: Normalise,
    on_epoch: Callable[[EpochLosses], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[EpochLosses]:
    run = Optimisation.of(model, settings, len(train))
    augment = BoxAugment(settings.seed) if settings.augment else None
    history: list[EpochLosses] = []
    for epoch in range(1, settings.max_epochs + 1):
        model.train()
        sums, seen = np.zeros(3), 0
        permutation = run.order.permutation(len(train))
        for start in range(0, len(train), settings.batch_size):
            positions = [int(position) for position in permutation[start : start + settings.batch_size]]
            loss_cls, loss_bbox, loss = _batch(model, train, positions, normalise, augment)
            run.step(loss, max_norm=10.0)
            sums += np.array([part.item() for part in (loss_cls.detach(), loss_bbox.detach(), loss.detach())]) * len(
                positions
            )
            seen += len(positions)
            if should_stop is not None and should_stop():
                break
        cls, bbox, total = sums / max(seen, 1)
        report = EpochLosses(epoch, float(cls), float(bbox), float(total))
        if validation is not None and len(validation):
            report.val_loss_cls, report.val_loss_bbox, report.val_loss = evaluate_loss(
                model, validation, normalise, settings.batch_size
            )
        history.append(report)
        if on_epoch is not None:
            on_epoch(report)
        if should_stop is not None and should_stop():
            break
    model.eval()
    return history


@torch.no_grad()
def detect(
    model: CenterNet,
    pixels: np.ndarray,
    sizes: np.ndarray,
    normalise: Normalise,
    *,
    max_detections: int = 100,
    batch_size: int = 32,
) -> list[Detections]:
    """Each image's detections (best first), boxes in its own pixels."""
    model.eval()
    found: list[Detections] = []
    side = int(pixels.shape[-1])
    for start in range(0, len(pixels), batch_size):
        output = model(normalise(torch.from_numpy(pixels[start : start + batch_size])))
        for offset, detections in enumerate(decode(output, model.stride, max_detections)):
            width, height = (int(value) for value in sizes[start + offset])
            detections.boxes = to_image(detections.boxes, width, height, side)
            found.append(detections)
    return found
