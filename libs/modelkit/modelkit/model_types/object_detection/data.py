"""Detection inputs: images resized to the model's square input (no crop, so every box stays in view), their
boxes scaled with them, and the augmentations that move boxes with the image (a horizontal flip, a zoom into a
random window)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray
from PIL import Image
from torch.nn import functional

from modelkit.model_types.image_classification.images import DEFAULT_MAX_PIXELS, open_image, to_rgb

MIN_KEPT_AREA = 0.4  # a box cut by a zoom window is kept when this share of it is still in view


@dataclass
class DetectionImages:
    pixels: NDArray[np.uint8]  # (N, 3, size, size)
    sizes: NDArray[np.int64]  # (N, 2): each original image's width and height
    boxes: list[NDArray[np.float32]]  # per image (K, 4) in the input's pixels
    labels: list[NDArray[np.int64]]  # per image (K,) class indexes

    def __len__(self) -> int:
        return len(self.pixels)

    def subset(self, positions: Sequence[int]) -> DetectionImages:
        chosen = list(positions)
        return DetectionImages(
            self.pixels[chosen],
            self.sizes[chosen],
            [self.boxes[position] for position in chosen],
            [self.labels[position] for position in chosen],
        )


def decode(raw: bytes | Path, size: int, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[NDArray[np.uint8], int, int]:
    """An image as (3, size, size) pixels, with its original width and height."""
    image = to_rgb(open_image(raw, max_pixels))
    width, height = image.size
    resized = image.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=3.0)
    return np.asarray(resized, dtype=np.uint8).transpose(2, 0, 1).copy(), width, height


def to_input(boxes: NDArray[np.float32], width: int, height: int, size: int) -> NDArray[np.float32]:
    """Boxes in an image's pixels to the model input's."""
    scale = np.array([size / width, size / height, size / width, size / height], dtype=np.float32)
    result: NDArray[np.float32] = (boxes.reshape(-1, 4) * scale).astype(np.float32)
    return result


def to_image(boxes: NDArray[np.float32], width: int, height: int, size: int) -> NDArray[np.float32]:
    """Boxes in the model input's pixels back to the image's, clipped to it."""
    scale = np.array([width / size, height / size, width / size, height / size], dtype=np.float32)
    scaled = boxes.reshape(-1, 4) * scale
    limits = np.array([width, height, width, height], dtype=np.float32)
    result: NDArray[np.float32] = np.clip(scaled, 0, limits).astype(np.float32)
    return result


def load(
    sources: Sequence[bytes | Path],
    boxes: Sequence[NDArray[np.float32]],
    labels: Sequence[NDArray[np.int64]],
    size: int,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> DetectionImages:
    """Images with their boxes (in the images' pixels)."""
    pixels = np.zeros((len(sources), 3, size, size), dtype=np.uint8)
    sizes = np.zeros((len(sources), 2), dtype=np.int64)
    scaled = []
    for position, (source, image_boxes) in enumerate(zip(sources, boxes, strict=True)):
        pixels[position], width, height = decode(source, size, max_pixels)
        sizes[position] = (width, height)
        scaled.append(to_input(image_boxes, width, height, size))
    return DetectionImages(pixels, sizes, scaled, [np.asarray(group, dtype=np.int64) for group in labels])


class BoxAugment:
    """Per training image: a horizontal flip (half the time), and a zoom into a random window of 60-100% of
    the side (half the time), boxes moved, cut to the window, and dropped when mostly outside it."""

    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)

    def __call__(
        self, pixels: torch.Tensor, boxes: NDArray[np.float32], labels: NDArray[np.int64]
    ) -> tuple[torch.Tensor, NDArray[np.float32], NDArray[np.int64]]:
        size = pixels.shape[-1]
        boxes = boxes.copy()
        if self.random.random() < 0.5:
            pixels = pixels.flip(-1)
            boxes[:, [0, 2]] = size - boxes[:, [2, 0]]
        if self.random.random() < 0.5:
            side = int(size * self.random.uniform(0.6, 1.0))
            left, top = self.random.randint(0, size - side), self.random.randint(0, size - side)
            window = pixels[:, top : top + side, left : left + side].unsqueeze(0).float()
            pixels = functional.interpolate(window, size=(size, size), mode="bilinear", align_corners=False)[0]
            area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
            boxes = np.clip(boxes - np.array([left, top, left, top], dtype=np.float32), 0, side)
            kept = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) >= MIN_KEPT_AREA * np.maximum(area, 1e-6)
            boxes, labels = boxes[kept] * (size / side), labels[kept]
        return pixels, boxes.astype(np.float32), labels
