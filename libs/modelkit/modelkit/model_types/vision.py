"""What the dense vision types (object detection, semantic segmentation) share: a network that is a head on an
image backbone (``HeadOnBackbone``: the last-layer method freezes the backbone, its batch statistics too), a
model folder of one manifest and one safetensors file (``BackboneHeadTask``), the pixel normalisation, and the
training settings with AdamW under a warm-up and a cosine decay."""

from __future__ import annotations

import json
import math
from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from automl_proto.models import TrainingOptions
from modelkit.model_types import ModelTypeError
from modelkit.model_types.base import ModelTask
from modelkit.model_types.image_classification import backbones
from modelkit.training.loop import cosine_schedule

WEIGHTS = "model.safetensors"


class Normalise:
    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        self.mean = torch.tensor(mean).view(1, 3, 1, 1) * 255
        self.std = torch.tensor(std).view(1, 3, 1, 1) * 255

    def __call__(self, pixels: torch.Tensor) -> torch.Tensor:
        return (pixels.float() - self.mean) / self.std


@dataclass
class FitSettings:
    max_epochs: int
    batch_size: int
    learning_rate: float
    weight_decay: float = 1e-4
    warmup_ratio: float = 0.05
    seed: int = 42
    augment: bool = True

    @classmethod
    def of(cls, options: TrainingOptions) -> FitSettings:
        """From a run's options (the type's defaults filled in)."""
        assert options.max_epochs is not None
        assert options.batch_size is not None
        assert options.learning_rate is not None
        return cls(
            max_epochs=options.max_epochs,
            batch_size=options.batch_size,
            learning_rate=options.learning_rate,
            weight_decay=options.weight_decay,
            warmup_ratio=options.warmup_ratio,
            seed=options.seed,
            augment=bool(options.augment),
        )


@dataclass
class Optimisation:
    """AdamW over the trainable weights, its schedule over every step of the run, and the run's shuffling."""

    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    order: np.random.Generator
    trainable: list[nn.Parameter]

    @classmethod
    def of(cls, model: nn.Module, settings: FitSettings, examples: int) -> Optimisation:
        torch.manual_seed(settings.seed)
        trainable = [parameter for parameter in model.parameters() if parameter.requires_grad]
        optimizer = torch.optim.AdamW(trainable, lr=settings.learning_rate, weight_decay=settings.weight_decay)
        total = max(1, math.ceil(examples / settings.batch_size)) * settings.max_epochs
        scheduler = cosine_schedule(optimizer, max(1, int(total * settings.warmup_ratio)), total)
        return cls(optimizer, scheduler, np.random.default_rng(settings.seed), trainable)

    def step(self, loss: torch.Tensor, max_norm: float | None = None) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        if max_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.trainable, max_norm)
        self.optimizer.step()
        self.scheduler.step()


class HeadOnBackbone(nn.Module):
    """A network whose ``backbone`` is an image backbone (``backbones.stages``) under a head of its own."""

    backbone: nn.Module

    def stages(self, pixels: torch.Tensor) -> list[torch.Tensor]:
        found: list[torch.Tensor] = self.backbone.stages(pixels)  # type: ignore[operator]
        return found

    def probe(self, image_size: int) -> list[torch.Tensor]:
        """The backbone's maps for one blank image (to size the head), its training mode left as it was."""
        with torch.no_grad():
            was_training = self.backbone.training
            self.backbone.eval()
            maps = self.stages(torch.zeros(1, 3, image_size, image_size))
            self.backbone.train(was_training)
        return maps

    def freeze_backbone(self) -> None:
        """The last-layer method: the backbone's weights and batch statistics stay as they are."""
        self.backbone.requires_grad_(False)
        self.backbone.eval()

    def train(self, mode: bool = True) -> HeadOnBackbone:
        super().train(mode)
        if mode and not any(parameter.requires_grad for parameter in self.backbone.parameters()):
            self.backbone.eval()  # a frozen backbone keeps its batch-norm statistics
        return self


@dataclass
class VisionManifest:
    """A dense vision model's facts beside its weights: its classes by index, input size, normalisation and
    its backbone's config (to build the network before loading the weights)."""

    classes: list[str]
    image_size: int
    backbone: dict[str, Any]
    mean: list[float] = field(default_factory=lambda: list(backbones.IMAGENET_MEAN))
    std: list[float] = field(default_factory=lambda: list(backbones.IMAGENET_STD))

    @property
    def normalise(self) -> Normalise:
        return Normalise(self.mean, self.std)


Network = TypeVar("Network", bound=HeadOnBackbone)


class BackboneHeadTask(ModelTask, Generic[Network]):
    """A type whose network is a head on an image backbone, trained last layer (backbone frozen) or full, and
    kept as one folder: ``manifest_file`` and ``model.safetensors`` (every weight, the backbone's too)."""

    manifest_file: ClassVar[str]
    default_image_size: ClassVar[int] = 256

    @abstractmethod
    def network(self, backbone: nn.Module, num_classes: int, image_size: int) -> Network: ...

    def check_base_model(self, folder: Path) -> None:
        try:
            backbones.load(folder)
        except backbones.BackboneError as e:
            raise ModelTypeError(str(e)) from e

    def build(
        self, base_dir: Path, classes: list[str], options: TrainingOptions, method: str
    ) -> tuple[Network, VisionManifest]:
        """The network on a base model's backbone, for ``method`` (last_layer: the backbone frozen)."""
        self.check_method(method)
        config = backbones.read_config(base_dir)
        size = options.image_size or self.default_image_size
        manifest = VisionManifest(
            classes, size, config, list(config.get("mean", backbones.IMAGENET_MEAN)),
            list(config.get("std", backbones.IMAGENET_STD)),
        )  # fmt: skip
        model = self.network(backbones.load(base_dir), len(classes), size)
        if method == "last_layer":
            model.freeze_backbone()
        return model, manifest

    def save(self, model: Network, manifest: VisionManifest, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        state = {name: value.detach().contiguous() for name, value in model.state_dict().items()}
        save_file(state, str(directory / WEIGHTS))
        (directory / self.manifest_file).write_text(json.dumps(asdict(manifest), indent=2, sort_keys=True))

    def load(self, directory: Path) -> tuple[Network, VisionManifest]:
        try:
            manifest = VisionManifest(**json.loads((directory / self.manifest_file).read_text()))
        except (OSError, ValueError, TypeError) as e:
            raise ModelTypeError(f"{self.manifest_file}: not a {self.name} model's manifest: {e}") from e
        model = self.network(backbones.build(manifest.backbone), len(manifest.classes), manifest.image_size)
        model.load_state_dict(load_file(str(directory / WEIGHTS)))
        model.eval()
        return model, manifest
