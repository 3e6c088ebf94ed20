"""Decoded images as model inputs: uint8 pixels kept once, normalised per batch, with optional training-time
augmentations (random resized crop, horizontal flip, colour jitter) written in torch."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray
from torch.nn import functional


@dataclass(frozen=True)
class Augment:
    crop_scale: tuple[float, float] = (0.5, 1.0)
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip: bool = True
    jitter: float = 0.2  # brightness, contrast and saturation factors in [1 - jitter, 1 + jitter]


@dataclass
class ImageTensors:
    pixels: NDArray[np.uint8]  # (N, 3, size, size)
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    augment: Augment | None = None

    def __len__(self) -> int:
        return len(self.pixels)

    def subset(self, positions: NDArray[np.int64]) -> ImageTensors:
        return ImageTensors(self.pixels[positions], self.mean, self.std, self.augment)

    def batch(self, positions: Sequence[int] | NDArray[np.int64], *, training: bool = False) -> dict[str, torch.Tensor]:
        images = torch.from_numpy(self.pixels[np.asarray(positions, dtype=np.int64)]).float().div_(255)
        if training and self.augment is not None:
            images = torch.stack([augmented(image, self.augment) for image in images])
        mean = torch.tensor(self.mean).view(1, 3, 1, 1)
        std = torch.tensor(self.std).view(1, 3, 1, 1)
        return {"pixels": (images - mean) / std}

    def inference_batches(self, batch_size: int) -> Iterator[NDArray[np.int64]]:
        order = np.arange(len(self), dtype=np.int64)
        for start in range(0, len(order), batch_size):
            yield order[start : start + batch_size]

    def save(self, path: Path) -> None:
        np.savez(path, pixels=self.pixels)

    @staticmethod
    def load_pixels(path: Path) -> NDArray[np.uint8]:
        with np.load(path) as data:
            pixels: NDArray[np.uint8] = data["pixels"]
        return pixels


def augmented(image: torch.Tensor, augment: Augment) -> torch.Tensor:
    """One (3, H, W) image in [0, 1], randomly cropped and resized back, flipped and colour-jittered (under the
    trainer's seeded torch RNG, so a resumed run draws the same)."""
    _, height, width = image.shape
    area = height * width
    for _ in range(10):
        target = area * float(torch.empty(1).uniform_(*augment.crop_scale))
        log_ratio = torch.empty(1).uniform_(math.log(augment.crop_ratio[0]), math.log(augment.crop_ratio[1]))
        ratio = math.exp(float(log_ratio))
        w, h = round(math.sqrt(target * ratio)), round(math.sqrt(target / ratio))
        if 0 < w <= width and 0 < h <= height:
            top = int(torch.randint(0, height - h + 1, (1,)))
            left = int(torch.randint(0, width - w + 1, (1,)))
            image = image[:, top : top + h, left : left + w]
            break
    image = functional.interpolate(image[None], size=(height, width), mode="bilinear", align_corners=False)[0]
    if augment.flip and float(torch.rand(1)) < 0.5:
        image = image.flip(-1)
    if augment.jitter:
        low, high = 1 - augment.jitter, 1 + augment.jitter
        image = image * float(torch.empty(1).uniform_(low, high))  # brightness
        mean = image.mean()
        image = (image - mean) * float(torch.empty(1).uniform_(low, high)) + mean  # contrast
        grey = (0.299 * image[0] + 0.587 * image[1] + 0.114 * image[2])[None]
        image = (image - grey) * float(torch.empty(1).uniform_(low, high)) + grey  # saturation
    return image.clamp_(0, 1)
