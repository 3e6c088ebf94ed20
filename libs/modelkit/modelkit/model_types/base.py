"""What a model type supplies, so that the worker, trainer-svc, the replicas and batch predictions ask it
instead of comparing type names. Every type: its methods and a check of a base model's folder. A classifier
(``ClassifierTask``): how its inputs are read from a snapshot and pre-processed, and its encoder (built from a
base model, saved and loaded); its family (``ModelTypeInfo.family``) says which training driver and which replica
take it. A causal LM (``modelkit.model_types.llm``) supplies its own."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol

from torch import nn

from automl_proto.models import LoraOptions, TrainingOptions
from modelkit.classifier import ClassifierSpec, EncoderConfig, MultiHeadClassifier
from modelkit.model_types import ModelTypeError, ModelTypeInfo, info
from modelkit.training.data import ModelInputs


def read_config(folder: Path) -> dict[str, Any]:
    """A transformers model folder's ``config.json``; ``ModelTypeError`` naming what is wrong with it."""
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise ModelTypeError("no config.json in the model folder")
    try:
        config = json.loads(config_path.read_text())
    except ValueError as e:
        raise ModelTypeError(f"config.json is not valid JSON: {e}") from e
    if not isinstance(config, dict):
        raise ModelTypeError("config.json does not hold an object")
    return config


class InputFiles(Protocol):
    """Where the worker finds the files a snapshot's rows refer to (images by content hash)."""

    def files(self, sha256s: Sequence[str]) -> list[Path]: ...


class Preprocessor(ABC):
    """Raw inputs (texts; image bytes or files) to ``ModelInputs``, the same way in training and serving."""

    @abstractmethod
    def encode(self, raw: Sequence[Any]) -> ModelInputs: ...

    @abstractmethod
    def load_inputs(self, path: Path) -> ModelInputs:
        """Inputs this pre-processor encoded and saved earlier (the worker's cache)."""

    @abstractmethod
    def cache_key(self) -> str:
        """What, besides the rows and base model, its encoded inputs depend on."""

    @abstractmethod
    def save(self, directory: Path) -> dict[str, Any]:
        """Write what serving needs into the artifact folder; the settings returned go into model.json."""


class ModelTask(ABC):
    name: ClassVar[str]  # its line in the table (``automl_proto.model_types.TABLE``) says its methods and inputs

    @property
    def info(self) -> ModelTypeInfo:
        return info(self.name)

    @property
    def snapshot_column(self) -> str:
        return self.info.snapshot_column

    def check_method(self, method: str) -> None:
        self.info.check_method(method)

    @abstractmethod
    def check_base_model(self, folder: Path) -> None:
        """Raise ``ModelTypeError`` with the reason if the folder is not a usable base model of this type."""


class ClassifierTask(ModelTask):
    """A type trained and served as a multi-head classifier over one encoder."""

    # -- data ----------------------------------------------------------------------------------------------
    @abstractmethod
    def raw_inputs(self, column: list[Any], files: InputFiles) -> list[Any]:
        """A snapshot's input column as the pre-processor's raw inputs."""

    @abstractmethod
    def preprocessor(self, base_dir: Path, options: TrainingOptions) -> Preprocessor:
        """For training, from the base model's folder and the run's options."""

    @abstractmethod
    def load_preprocessor(self, directory: Path, settings: dict[str, Any]) -> Preprocessor:
        """For serving, from an artifact folder and the settings its ``save`` returned."""

    def preview(self, raw: Any, inputs: ModelInputs, position: int) -> dict[str, Any]:
        """How the metrics show one test input among the hardest examples (a text's start, a thumbnail)."""
        return {}

    # -- the model -----------------------------------------------------------------------------------------
    @abstractmethod
    def encoder_config(self, model_dir: Path) -> EncoderConfig: ...

    @abstractmethod
    def load_encoder(self, model_dir: Path) -> nn.Module:
        """A base model's encoder, or a full fine-tune's saved one."""

    @abstractmethod
    def save_encoder(self, encoder: nn.Module, directory: Path) -> None: ...

    @abstractmethod
    def classifier(self, encoder: nn.Module, spec: ClassifierSpec) -> MultiHeadClassifier: ...

    def apply_method(self, model: MultiHeadClassifier, method: str, lora: LoraOptions | None = None) -> None:
        """Set which parameters train: the heads only, LoRA adapters and the heads, or everything."""
        self.check_method(method)
        if method == "last_layer":
            model.encoder.requires_grad_(False)
        elif method == "lora":
            from peft import LoraConfig, get_peft_model

            lora = lora or LoraOptions()
            config = LoraConfig(
                r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=lora.target_modules
            )
            model.encoder = get_peft_model(model.encoder, config)
        else:
            model.encoder.requires_grad_(True)
        model.heads.requires_grad_(True)
