"""Masks from a loaded segmenter: per image, ``{"mask_png_base64": <a one-channel PNG of the image's size, pixel
value = class index>, "classes": [...], "pixel_shares": {class: share of the image's pixels}}``."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from modelkit.model_types.image_classification.images import DEFAULT_MAX_PIXELS
from modelkit.model_types.object_detection.data import decode as decode_image
from modelkit.model_types.semantic_segmentation import SemanticSegmentation
from modelkit.model_types.semantic_segmentation.data import mask_png
from modelkit.model_types.semantic_segmentation.model import Segmenter
from modelkit.model_types.semantic_segmentation.training import predict_masks
from modelkit.model_types.vision import VisionManifest


class SegmenterPredictor:
    def __init__(self, model: Segmenter, manifest: VisionManifest, device: str = "cpu") -> None:
        self.model = model
        self.manifest = manifest

    @classmethod
    def load(cls, directory: Path, base_dir: Path | None = None, device: str = "cpu") -> SegmenterPredictor:
        """Every weight is in the model's folder (``base_dir`` is not needed)."""
        model, manifest = SemanticSegmentation().load(directory)
        return cls(model.to(device), manifest, device)

    def predict(self, raw: Sequence[Any], max_pixels: int = DEFAULT_MAX_PIXELS) -> list[dict[str, Any]]:
        if not raw:
            return []
        decoded = [decode_image(bytes(value), self.manifest.image_size, max_pixels) for value in raw]
        pixels = np.stack([pixels for pixels, _, _ in decoded])
        sizes = [(width, height) for _, width, height in decoded]
        classes = self.manifest.classes
        outputs = []
        for mask, shares in predict_masks(self.model, pixels, sizes, self.manifest.normalise):
            outputs.append(
                {
                    "mask_png_base64": base64.b64encode(mask_png(mask)).decode(),
                    "classes": list(classes),
                    "pixel_shares": {name: round(float(share), 6) for name, share in zip(classes, shares, strict=True)},
                }
            )
        return outputs
