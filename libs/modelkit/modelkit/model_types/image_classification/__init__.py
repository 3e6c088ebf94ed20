"""Image classification: a convolutional backbone (MobileNetV2, EfficientNet-Lite0) pooled into one vector per
image; images decoded once (``images``), augmented per batch when training asks for it (``tensors``)."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from automl_proto.models import TrainingOptions
from modelkit.classifier import ClassifierSpec, EncoderConfig, MultiHeadClassifier
from modelkit.model_types import ModelTypeError
from modelkit.model_types.base import ClassifierTask, InputFiles, Preprocessor
from modelkit.model_types.image_classification import backbones
from modelkit.model_types.image_classification.images import DEFAULT_MAX_PIXELS, ImageError, decode, thumbnail_jpeg
from modelkit.model_types.image_classification.tensors import Augment, ImageTensors
from modelkit.training.data import ModelInputs

DEFAULT_IMAGE_SIZE = 224


class ImageClassifier(MultiHeadClassifier):
    def embed(self, **inputs: torch.Tensor) -> torch.Tensor:
        features: torch.Tensor = self.encoder(inputs["pixels"])
        return features


class ImagePreprocessor(Preprocessor):
    def __init__(
        self,
        size: int,
        mean: Sequence[float],
        std: Sequence[float],
        augment: Augment | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> None:
        self.size = size
        self.mean = (float(mean[0]), float(mean[1]), float(mean[2]))
        self.std = (float(std[0]), float(std[1]), float(std[2]))
        self.augment = augment
        self.max_pixels = max_pixels

    def encode(self, raw: Sequence[Any]) -> ImageTensors:
        pixels = np.empty((len(raw), 3, self.size, self.size), dtype=np.uint8)
        for position, item in enumerate(raw):
            try:
                pixels[position] = decode(item, self.size, self.max_pixels)
            except ImageError as e:
                raise ModelTypeError(f"inputs[{position}]: {e}") from e
        return ImageTensors(pixels, self.mean, self.std, self.augment)

    def load_inputs(self, path: Path) -> ImageTensors:
        return ImageTensors(ImageTensors.load_pixels(path), self.mean, self.std, self.augment)

    def cache_key(self) -> str:
        return f"{self.size}"

    def save(self, directory: Path) -> dict[str, Any]:
        return {"image_size": self.size, "mean": list(self.mean), "std": list(self.std)}


class ImageClassification(ClassifierTask):
    name = "image_classification"

    def raw_inputs(self, column: list[Any], files: InputFiles) -> list[Any]:
        return files.files([str(sha256) for sha256 in column])

    def preview(self, raw: Any, inputs: ModelInputs, position: int) -> dict[str, Any]:
        assert isinstance(inputs, ImageTensors)
        thumbnail = base64.b64encode(thumbnail_jpeg(inputs.pixels[position])).decode()
        return {"thumbnail": f"data:image/jpeg;base64,{thumbnail}"}

    def preprocessor(self, base_dir: Path, options: TrainingOptions) -> ImagePreprocessor:
        config = backbones.read_config(base_dir)
        return ImagePreprocessor(
            options.image_size or int(config.get("image_size", DEFAULT_IMAGE_SIZE)),
            config.get("mean", backbones.IMAGENET_MEAN),
            config.get("std", backbones.IMAGENET_STD),
            Augment() if options.augment else None,
        )

    def load_preprocessor(self, directory: Path, settings: dict[str, Any]) -> ImagePreprocessor:
        return ImagePreprocessor(int(settings["image_size"]), settings["mean"], settings["std"])

    def check_base_model(self, folder: Path) -> None:
        try:
            backbones.load(folder)
        except backbones.BackboneError as e:
            raise ModelTypeError(str(e)) from e

    def encoder_config(self, model_dir: Path) -> EncoderConfig:
        return EncoderConfig(hidden_size=backbones.features_dim(backbones.read_config(model_dir)))

    def load_encoder(self, model_dir: Path) -> nn.Module:
        return backbones.load(model_dir)

    def save_encoder(self, encoder: nn.Module, directory: Path) -> None:
        backbones.save(encoder, directory)

    def classifier(self, encoder: nn.Module, spec: ClassifierSpec) -> MultiHeadClassifier:
        return ImageClassifier(encoder, spec)
