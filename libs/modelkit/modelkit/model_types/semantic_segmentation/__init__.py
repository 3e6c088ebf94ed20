"""Semantic segmentation: LR-ASPP's head (see ``model``) on the image backbones of image classification
(MobileNetV2, EfficientNet-Lite0), trained last layer (backbone frozen) or full. A model's folder:
``segmenter.json`` (its classes, input size, normalisation, the backbone's config) and ``model.safetensors``
(every weight)."""

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
from modelkit.model_types.object_detection.training import Normalise
from modelkit.model_types.semantic_segmentation.model import LRASPP

DEFAULT_IMAGE_SIZE = 256
MANIFEST = "segmenter.json"
WEIGHTS = "model.safetensors"


@dataclass
class SegmenterManifest:
    classes: list[str]
    image_size: int
    backbone: dict[str, Any]
    mean: list[float] = field(default_factory=lambda: list(backbones.IMAGENET_MEAN))
    std: list[float] = field(default_factory=lambda: list(backbones.IMAGENET_STD))

    @property
    def normalise(self) -> Normalise:
        return Normalise(self.mean, self.std)


class SemanticSegmentation(ModelTask):
    name = "semantic_segmentation"

    def check_base_model(self, folder: Path) -> None:
        try:
            backbones.load(folder)
        except backbones.BackboneError as e:
            raise ModelTypeError(str(e)) from e

    def build(
        self, base_dir: Path, classes: list[str], options: TrainingOptions, method: str
    ) -> tuple[LRASPP, SegmenterManifest]:
        """A segmenter on a base model's backbone, for ``method`` (last_layer: the backbone frozen)."""
        self.check_method(method)
        config = backbones.read_config(base_dir)
        size = options.image_size or DEFAULT_IMAGE_SIZE
        manifest = SegmenterManifest(
            classes, size, config, list(config.get("mean", backbones.IMAGENET_MEAN)),
            list(config.get("std", backbones.IMAGENET_STD)),
        )  # fmt: skip
        model = LRASPP(backbones.load(base_dir), len(classes), size)
        if method == "last_layer":
            model.freeze_backbone()
        return model, manifest

    def save(self, model: LRASPP, manifest: SegmenterManifest, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        state = {name: value.detach().contiguous() for name, value in model.state_dict().items()}
        save_file(state, str(directory / WEIGHTS))
        (directory / MANIFEST).write_text(json.dumps(asdict(manifest), indent=2, sort_keys=True))

    def load(self, directory: Path) -> tuple[LRASPP, SegmenterManifest]:
        try:
            manifest = SegmenterManifest(**json.loads((directory / MANIFEST).read_text()))
        except (OSError, ValueError, TypeError) as e:
            raise ModelTypeError(f"{MANIFEST}: not a segmenter's manifest: {e}") from e
        model = LRASPP(backbones.build(manifest.backbone), len(manifest.classes), manifest.image_size)
        model.load_state_dict(load_file(str(directory / WEIGHTS)))
        model.eval()
        return model, manifest
