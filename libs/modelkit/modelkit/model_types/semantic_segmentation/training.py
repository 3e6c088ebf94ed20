"""Training a segmenter and scoring it: AdamW with a warm-up and a cosine decay; per epoch the guide's
``train_loss`` (the epoch's mean loss), ``decode.loss_ce`` (the head's cross-entropy, the only loss here) and
``decode.acc_seg`` (the share of the epoch's scored training pixels classified right); the test figures from
the pixel confusion matrix at each image's own size."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray
from torch.nn import functional

from modelkit.model_types.semantic_segmentation.data import MaskAugment, SegmentationImages
from modelkit.model_types.semantic_segmentation.metrics import confusion
from modelkit.model_types.semantic_segmentation.model import IGNORE_INDEX, Segmenter
from modelkit.model_types.vision import FitSettings, Normalise, Optimisation

__all__ = ["EpochFigures", "FitSettings", "evaluate", "fit", "predict_masks"]


@dataclass
class EpochFigures:
    epoch: int
    train_loss: float
    loss_ce: float  # reported as ``decode.loss_ce``
    acc_seg: float  # reported as ``decode.acc_seg``
    val_loss: float | None = None

    def named(self) -> dict[str, float | int | None]:
        """Under the guide's names."""
        return {
            "epoch": self.epoch,
            "train_loss": self.train_loss,
            "decode.loss_ce": self.loss_ce,
            "decode.acc_seg": self.acc_seg,
            "val_loss": self.val_loss,
        }


def _batch(
    images: SegmentationImages, positions: list[int], normalise: Normalise, augment: MaskAugment | None
) -> tuple[torch.Tensor, torch.Tensor]:
    pixels, masks = [], []
    for position in positions:
        image = torch.from_numpy(images.pixels[position])
        mask = torch.from_numpy(images.masks[position])
        if augment is not None:
            image, mask = augment(image, mask)
        pixels.append(image.float())
        masks.append(mask.long())
    return normalise(torch.stack(pixels)), torch.stack(masks)


def _loss_and_hits(model: Segmenter, pixels: torch.Tensor, masks: torch.Tensor) -> tuple[torch.Tensor, int, int]:
    logits = model(pixels)
    loss = functional.cross_entropy(logits, masks, ignore_index=IGNORE_INDEX)
    scored = masks != IGNORE_INDEX
    hits = int(((logits.detach().argmax(1) == masks) & scored).sum())
    return loss, hits, int(scored.sum())


@torch.no_grad()
def validation_loss(model: Segmenter, images: SegmentationImages, normalise: Normalise, batch_size: int) -> float:
    model.eval()
    total, seen = 0.0, 0
    for positions in _chunks(len(images), batch_size):
        pixels, masks = _batch(images, positions, normalise, None)
        loss, _, _ = _loss_and_hits(model, pixels, masks)
        total += float(loss) * len(positions)
        seen += len(positions)
    return total / max(seen, 1)


def _chunks(count: int, size: int) -> Iterator[list[int]]:
    for start in range(0, count, size):
        yield list(range(start, min(start + size, count)))


def fit(
    model: Segmenter,
    train: SegmentationImages,
    validation: SegmentationImages | None,
    settings: FitSettings,
    normalise: Normalise,
    on_epoch: Callable[[EpochFigures], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[EpochFigures]:
    run = Optimisation.of(model, settings, len(train))
    augment = MaskAugment(settings.seed) if settings.augment else None
    history: list[EpochFigures] = []
    for epoch in range(1, settings.max_epochs + 1):
        model.train()
        loss_sum, seen, hits, scored = 0.0, 0, 0, 0
        permutation = run.order.permutation(len(train))
        for start in range(0, len(train), settings.batch_size):
            positions = [int(position) for position in permutation[start : start + settings.batch_size]]
            pixels, masks = _batch(train, positions, normalise, augment)
            loss, batch_hits, batch_scored = _loss_and_hits(model, pixels, masks)
            run.step(loss)
            loss_sum += loss.item() * len(positions)
            seen += len(positions)
            hits, scored = hits + batch_hits, scored + batch_scored
            if should_stop is not None and should_stop():
                break
        mean = loss_sum / max(seen, 1)
        report = EpochFigures(epoch, mean, mean, hits / max(scored, 1))
        if validation is not None and len(validation):
            report.val_loss = validation_loss(model, validation, normalise, settings.batch_size)
        history.append(report)
        if on_epoch is not None:
            on_epoch(report)
        if should_stop is not None and should_stop():
            break
    model.eval()
    return history


@torch.no_grad()
def predict_masks(
    model: Segmenter,
    pixels: NDArray[np.uint8],
    sizes: list[tuple[int, int]],
    normalise: Normalise,
    batch_size: int = 16,
) -> Iterator[tuple[NDArray[np.uint8], NDArray[np.float32]]]:
    """Per image: its predicted mask at its own (width, height), and each class's share of its pixels."""
    model.eval()
    device = next(model.parameters()).device
    for positions in _chunks(len(pixels), batch_size):
        logits = model(normalise(torch.from_numpy(pixels[positions[0] : positions[-1] + 1])).to(device))
        for offset, position in enumerate(positions):
            width, height = sizes[position]
            scaled = functional.interpolate(
                logits[offset : offset + 1].float(), size=(height, width), mode="bilinear", align_corners=False
            )
            mask: NDArray[np.uint8] = scaled[0].argmax(0).to(torch.uint8).cpu().numpy()
            counts = np.bincount(mask.reshape(-1), minlength=model.num_classes)
            shares: NDArray[np.float32] = (counts / mask.size).astype(np.float32)
            yield mask, shares


def evaluate(
    model: Segmenter, images: SegmentationImages, normalise: Normalise, batch_size: int = 16
) -> tuple[NDArray[np.int64], list[NDArray[np.uint8]]]:
    """The pixel confusion matrix over the images (at each one's own size), and the predicted masks."""
    sizes = [(int(mask.shape[1]), int(mask.shape[0])) for mask in images.originals]
    matrix = np.zeros((model.num_classes, model.num_classes), dtype=np.int64)
    predicted = []
    masks = predict_masks(model, images.pixels, sizes, normalise, batch_size)
    for (mask, _), truth in zip(masks, images.originals, strict=True):
        matrix += confusion(truth, mask, model.num_classes)
        predicted.append(mask)
    return matrix, predicted
