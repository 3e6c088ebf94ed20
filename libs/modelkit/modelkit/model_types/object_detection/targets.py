"""CenterNet's training targets, losses and decoding. Boxes are [x_min, y_min, x_max, y_max] in the input's
pixels; the output map has one cell per ``stride`` pixels."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray
from torch.nn import functional

from modelkit.model_types.object_detection.model import DetectorOutput

MAX_OBJECTS = 128  # per image in one step (more are rare; the rest of an image's boxes wait for a crop)
SIZE_WEIGHT = 0.1  # CenterNet's weight of the size loss against the offset's


@dataclass
class Targets:
    heat: torch.Tensor  # (N, classes, h, w): a Gaussian peak at each object's centre
    index: torch.Tensor  # (N, K): each object's cell, as y * w + x
    size: torch.Tensor  # (N, K, 2)
    offset: torch.Tensor  # (N, K, 2)
    mask: torch.Tensor  # (N, K): 1 where an object is


def gaussian_radius(height: float, width: float, min_overlap: float = 0.7) -> float:
    """CenterNet's radius: how far a centre may move with the box still overlapping ``min_overlap``."""
    b1, c1 = height + width, width * height * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + math.sqrt(b1**2 - 4 * c1)) / 2
    b2, c2 = 2 * (height + width), (1 - min_overlap) * width * height
    r2 = (b2 + math.sqrt(b2**2 - 16 * c2)) / 2
    a3 = 4 * min_overlap
    b3, c3 = -2 * min_overlap * (height + width), (min_overlap - 1) * width * height
    r3 = (b3 + math.sqrt(b3**2 - 4 * a3 * c3)) / 2
    return min(r1, r2, r3)


def _draw(heat: NDArray[np.float32], cx: int, cy: int, radius: int) -> None:
    sigma = (2 * radius + 1) / 6
    ys, xs = np.ogrid[-radius : radius + 1, -radius : radius + 1]
    gaussian = np.exp(-(xs * xs + ys * ys) / (2 * sigma * sigma))
    height, width = heat.shape
    left, right = min(cx, radius), min(width - cx, radius + 1)
    top, bottom = min(cy, radius), min(height - cy, radius + 1)
    region = heat[cy - top : cy + bottom, cx - left : cx + right]
    patch = gaussian[radius - top : radius + bottom, radius - left : radius + right]
    np.maximum(region, patch, out=region)


def encode(
    boxes: list[NDArray[np.float32]], labels: list[NDArray[np.int64]], num_classes: int, shape: tuple[int, int],
    stride: int,
) -> Targets:  # fmt: skip
    """Per image its boxes (K, 4) and class indexes (K,), for an output map of ``shape`` (h, w)."""
    height, width = shape
    count = len(boxes)
    heat = np.zeros((count, num_classes, height, width), dtype=np.float32)
    index = np.zeros((count, MAX_OBJECTS), dtype=np.int64)
    size = np.zeros((count, MAX_OBJECTS, 2), dtype=np.float32)
    offset = np.zeros((count, MAX_OBJECTS, 2), dtype=np.float32)
    mask = np.zeros((count, MAX_OBJECTS), dtype=np.float32)
    for image, (image_boxes, image_labels) in enumerate(zip(boxes, labels, strict=True)):
        for slot, (box, label) in enumerate(zip(image_boxes[:MAX_OBJECTS], image_labels[:MAX_OBJECTS], strict=True)):
            x_min, y_min, x_max, y_max = (float(value) / stride for value in box)
            box_w, box_h = x_max - x_min, y_max - y_min
            if box_w <= 0 or box_h <= 0:
                continue
            cx, cy = (x_min + x_max) / 2, (y_min + y_max) / 2
            ix, iy = min(int(cx), width - 1), min(int(cy), height - 1)
            radius = max(0, int(gaussian_radius(math.ceil(box_h), math.ceil(box_w))))
            _draw(heat[image, int(label)], ix, iy, radius)
            index[image, slot] = iy * width + ix
            size[image, slot] = (box_w, box_h)
            offset[image, slot] = (cx - ix, cy - iy)
            mask[image, slot] = 1
    return Targets(*(torch.from_numpy(array) for array in (heat, index, size, offset, mask)))


def focal_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """CenterNet's penalty-reduced focal loss (alpha 2, beta 4), over the number of objects."""
    predicted = torch.sigmoid(logits.float()).clamp(1e-4, 1 - 1e-4)
    positive = target.eq(1).float()
    negative_weight = torch.pow(1 - target, 4) * (1 - positive)
    positive_loss = torch.log(predicted) * torch.pow(1 - predicted, 2) * positive
    negative_loss = torch.log(1 - predicted) * torch.pow(predicted, 2) * negative_weight
    return -(positive_loss.sum() + negative_loss.sum()) / positive.sum().clamp(min=1)


def _gather(map_: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """(N, C, h, w) at (N, K) cells -> (N, K, C)."""
    flat = map_.flatten(2).transpose(1, 2)
    return flat.gather(1, index.unsqueeze(2).expand(-1, -1, flat.shape[2]))


def losses(output: DetectorOutput, targets: Targets) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss_cls, loss_bbox): the heat maps' focal loss; the sizes' and offsets' L1 at the objects' centres."""
    loss_cls = focal_loss(output.heat, targets.heat)
    mask = targets.mask.unsqueeze(2)
    count = mask.sum().clamp(min=1)
    size_l1 = (functional.l1_loss(_gather(output.size, targets.index), targets.size, reduction="none") * mask).sum()
    offset_l1 = functional.l1_loss(_gather(output.offset, targets.index), targets.offset, reduction="none")
    loss_bbox = (SIZE_WEIGHT * size_l1 + (offset_l1 * mask).sum()) / count
    return loss_cls, loss_bbox


@dataclass
class Detections:
    boxes: NDArray[np.float32]  # (K, 4) in the input's pixels
    scores: NDArray[np.float32]
    labels: NDArray[np.int64]


@torch.no_grad()
def decode(output: DetectorOutput, stride: int, max_detections: int = 100) -> list[Detections]:
    """The top peaks of the heat maps (a peak: no higher neighbour in 3x3), each with its box."""
    heat = torch.sigmoid(output.heat.float())
    peaks = heat * (functional.max_pool2d(heat, 3, stride=1, padding=1) == heat)
    count, classes, height, width = heat.shape
    k = min(max_detections, classes * height * width)
    scores, flat = peaks.flatten(1).topk(k)
    labels = flat // (height * width)
    cells = flat % (height * width)
    size = _gather(output.size.float(), cells)
    offset = _gather(output.offset.float(), cells)
    cx = (cells % width).float() + offset[..., 0]
    cy = (cells // width).float() + offset[..., 1]
    boxes = torch.stack(
        [cx - size[..., 0] / 2, cy - size[..., 1] / 2, cx + size[..., 0] / 2, cy + size[..., 1] / 2], dim=2
    ) * float(stride)
    return [
        Detections(boxes[image].cpu().numpy(), scores[image].cpu().numpy(), labels[image].cpu().numpy())
        for image in range(count)
    ]
