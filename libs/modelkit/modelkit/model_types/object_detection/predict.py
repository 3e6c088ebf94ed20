"""Detections from a loaded detector: per image, ``{"detections": [{"label", "score", "box"}]}``, best first,
boxes ``[x_min, y_min, x_max, y_max]`` in the image's own pixels.

An input is an image's bytes, or ``{"image": bytes, "score_threshold", "max_detections", "class_thresholds"}``:
a detection is kept when its score reaches the caller's ``score_threshold``, else its class's cut-off (a
deployment's operating point), else ``DEFAULT_SCORE_THRESHOLD``; at most ``max_detections`` are kept."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from modelkit.model_types.image_classification.images import DEFAULT_MAX_PIXELS
from modelkit.model_types.object_detection import ObjectDetection
from modelkit.model_types.object_detection.data import decode as decode_image
from modelkit.model_types.object_detection.data import to_image
from modelkit.model_types.object_detection.model import CenterNet
from modelkit.model_types.object_detection.targets import decode
from modelkit.model_types.vision import VisionManifest

DEFAULT_SCORE_THRESHOLD = 0.3
DEFAULT_MAX_DETECTIONS = 100
MAX_DETECTIONS = 1000


@dataclass(frozen=True)
class DetectionAsk:
    """One image and what the caller keeps of its detections."""

    image: bytes
    score_threshold: float | None = None
    max_detections: int = DEFAULT_MAX_DETECTIONS
    class_thresholds: dict[str, float] = field(default_factory=dict)

    @classmethod
    def of(cls, raw: Any) -> DetectionAsk:
        if isinstance(raw, bytes | bytearray):
            return cls(bytes(raw))
        if not isinstance(raw, dict) or not isinstance(raw.get("image"), bytes | bytearray):
            raise TypeError("a detector takes an image's bytes, or a dict with them under 'image'")
        return cls(
            bytes(raw["image"]),
            raw.get("score_threshold"),
            min(int(raw.get("max_detections") or DEFAULT_MAX_DETECTIONS), MAX_DETECTIONS),
            dict(raw.get("class_thresholds") or {}),
        )

    def cut(self, label: str) -> float:
        if self.score_threshold is not None:
            return float(self.score_threshold)
        return float(self.class_thresholds.get(label, DEFAULT_SCORE_THRESHOLD))


class DetectorPredictor:
    def __init__(self, model: CenterNet, manifest: VisionManifest, device: str = "cpu") -> None:
        self.model = model
        self.manifest = manifest
        self.device = device
        self.normalise = manifest.normalise

    @classmethod
    def load(cls, directory: Path, base_dir: Path | None = None, device: str = "cpu") -> DetectorPredictor:
        """Every weight is in the model's folder (``base_dir`` is not needed)."""
        model, manifest = ObjectDetection().load(directory)
        return cls(model.to(device), manifest, device)

    @torch.no_grad()
    def predict(self, raw: Sequence[Any], max_pixels: int = DEFAULT_MAX_PIXELS) -> list[dict[str, Any]]:
        asks = [DetectionAsk.of(value) for value in raw]
        if not asks:
            return []
        size = self.manifest.image_size
        decoded = [decode_image(ask.image, size, max_pixels) for ask in asks]
        pixels = torch.from_numpy(np.stack([pixels for pixels, _, _ in decoded]))
        normalised = self.normalise(pixels).to(self.device)
        most = max(ask.max_detections for ask in asks)
        found = decode(self.model(normalised), self.model.stride, most)
        classes = self.manifest.classes
        outputs: list[dict[str, Any]] = []
        for ask, (_, width, height), detections in zip(asks, decoded, found, strict=True):
            boxes = to_image(detections.boxes, width, height, size)
            kept: list[dict[str, Any]] = []
            for box, score, label in zip(boxes, detections.scores, detections.labels, strict=True):
                name = classes[int(label)]
                if float(score) >= ask.cut(name) and len(kept) < ask.max_detections:
                    kept.append(
                        {
                            "label": name,
                            "score": round(float(score), 6),
                            "box": [round(float(value), 2) for value in box],
                        }
                    )
            outputs.append({"detections": kept})
        return outputs
