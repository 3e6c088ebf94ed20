"""Segmentation inputs: images resized to the model's square input (bilinear, no crop) and their masks with
them (nearest: a pixel keeps a class index), the original sizes kept for scoring; the augmentations move the
mask with the image (a horizontal flip, a zoom into a random window)."""

from __future__ import annotations

import io
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray
from PIL import Image
from torch.nn import functional

from modelkit.model_types.image_classification.images import DEFAULT_MAX_PIXELS, ImageError, open_image
from modelkit.model_types.object_detection.data import decode as decode_image
from modelkit.model_types.semantic_segmentation.model import IGNORE_INDEX


@dataclass
class SegmentationImages:
    pixels: NDArray[np.uint8]  # (N, 3, size, size)
    masks: NDArray[np.uint8]  # (N, size, size) class indexes, IGNORE_INDEX where unscored
    originals: list[NDArray[np.uint8]]  # each mask at its image's own size (what the figures are computed on)

    def __len__(self) -> int:
        return len(self.pixels)

    def subset(self, positions: Sequence[int]) -> SegmentationImages:
        chosen = list(positions)
        return SegmentationImages(self.pixels[chosen], self.masks[chosen], [self.originals[p] for p in chosen])


def read_mask(raw: bytes | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> NDArray[np.uint8]:
    """A one-channel mask (mode L or P: a pixel's value is its class index) as (height, width)."""
    image = open_image(raw, max_pixels)
    if image.mode not in ("L", "P"):
        raise ImageError(f"a mask has one channel (mode L or P), not {image.mode}")
    return np.asarray(image, dtype=np.uint8).copy()


def resize_mask(mask: NDArray[np.uint8], size: int) -> NDArray[np.uint8]:
    resized = Image.fromarray(mask).resize((size, size), Image.Resampling.NEAREST)
    return np.asarray(resized, dtype=np.uint8).copy()


def load(
    images: Sequence[bytes | Path], masks: Sequence[bytes | Path], size: int, max_pixels: int = DEFAULT_MAX_PIXELS
) -> SegmentationImages:
    pixels = np.zeros((len(images), 3, size, size), dtype=np.uint8)
    resized = np.zeros((len(images), size, size), dtype=np.uint8)
    originals = []
    for position, (image, mask) in enumerate(zip(images, masks, strict=True)):
        pixels[position], _, _ = decode_image(image, size, max_pixels)
        original = read_mask(mask, max_pixels)
        originals.append(original)
        resized[position] = resize_mask(original, size)
    return SegmentationImages(pixels, resized, originals)


def mask_png(mask: NDArray[np.uint8]) -> bytes:
    """A mask as a one-channel PNG (pixel value = class index)."""
    out = io.BytesIO()
    Image.fromarray(mask, mode="L").save(out, "PNG")
    return out.getvalue()


class MaskAugment:
    """Per training image: a horizontal flip (half the time) and a zoom into a random window of 60-100% of the
    side (half the time), the mask moved with the image."""

    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)

    def __call__(self, pixels: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.random.random() < 0.5:
            pixels, mask = pixels.flip(-1), mask.flip(-1)
        if self.random.random() < 0.5:
            size = pixels.shape[-1]
            side = int(size * self.random.uniform(0.6, 1.0))
            left, top = self.random.randint(0, size - side), self.random.randint(0, size - side)
            window = pixels[:, top : top + side, left : left + side].unsqueeze(0).float()
            pixels = functional.interpolate(window, size=(size, size), mode="bilinear", align_corners=False)[0]
            cut = mask[top : top + side, left : left + side][None, None].float()
            mask = functional.interpolate(cut, size=(size, size), mode="nearest")[0, 0].to(torch.uint8)
        return pixels, mask


__all__ = ["IGNORE_INDEX", "MaskAugment", "SegmentationImages", "load", "mask_png", "read_mask"]
