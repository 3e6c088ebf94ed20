"""Object detection: an anchor-free detector (CenterNet's heads on a small feature pyramid, see ``model``) over
the image backbones of image classification (MobileNetV2, EfficientNet-Lite0), trained last layer (backbone
frozen) or full. A model's folder: ``detector.json`` (its classes, input size, normalisation, the backbone's
config) and ``model.safetensors`` (every weight)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file

from automl_proto.models import TrainingOptions
from modelkit.model_types import ModelTypeError
from modelkit.model_types.base import ModelTask
from modelkit.model_types.image_classification import backbones
from modelkit.model_types.object_detection.model import CenterNet
from modelkit.model_types.object_detection.training import Normalise

DEFAULT_IMAGE_SIZE = 256
MANIFEST = "detector.json"
WEIGHTS = "model.safetensors"


@dataclass
class DetectorManifest:
    classes: list[str]
    image_size: int
    backbone: dict[str, Any]
    mean: list[float] = field(default_factory=lambda: list(backbones.IMAGENET_MEAN))
    std: list[float] = field(default_factory=lambda: list(backbones.IMAGENET_STD))

    @property
    def normalise(self) -> Normalise:
        return Normalise(self.mean, self.std)


class ObjectDetection(ModelTask):
    name = "object_detection"

    def check_base_model(self, folder: Path) -> None:
        try:
            backbones.load(folder)
        except backbones.BackboneError as e:
            raise ModelTypeError(str(e)) from e

    def build(
        self, base_dir: Path, classes: list[str], options: TrainingOptions, method: str
    ) -> tuple[CenterNet, DetectorManifest]:
        """A detector on a base model's backbone, for ``method`` (last_layer: the backbone frozen)."""
        self.check_method(method)
        config = backbones.read_config(base_dir)
        size = options.image_size or DEFAULT_IMAGE_SIZE
        manifest = DetectorManifest(
            classes, size, config, list(config.get("mean", backbones.IMAGENET_MEAN)),
            list(config.get("std", backbones.IMAGENET_STD)),
        )  # fmt: skip
        model = CenterNet(backbones.load(base_dir), len(classes), size)
        if method == "last_layer":
            model.freeze_backbone()
        return model, manifest

    def save(self, model: CenterNet, manifest: DetectorManifest, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        state = {name: value.detach().contiguous() for name, value in model.state_dict().items()}
        save_file(state, str(directory / WEIGHTS))
        (directory / MANIFEST).write_text(json.dumps(asdict(manifest), indent=2, sort_keys=True))

    def load(self, directory: Path) -> tuple[CenterNet, DetectorManifest]:
        try:
            manifest = DetectorManifest(**json.loads((directory / MANIFEST).read_text()))
        except (OSError, ValueError, TypeError) as e:
            raise ModelTypeError(f"{MANIFEST}: not a detector's manifest: {e}") from e
        model = CenterNet(backbones.build(manifest.backbone), len(manifest.classes), manifest.image_size)
        model.load_state_dict(load_file(str(directory / WEIGHTS)))
        model.eval()
        return model, manifest
