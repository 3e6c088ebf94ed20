"""Text classification: a sentence encoder (transformers) with pooled embeddings, tokenised inputs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch import nn
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from automl_proto.models import TrainingOptions
from modelkit.classifier import ClassifierSpec, EncoderConfig, MultiHeadClassifier
from modelkit.model_types import ModelTypeError
from modelkit.model_types.base import ClassifierTask, InputFiles, Preprocessor, read_config
from modelkit.model_types.text_classification.encoder import TextClassifier, load_encoder, read_encoder_config
from modelkit.model_types.text_classification.tokens import TokenizedTexts, tokenize
from modelkit.training.data import ModelInputs

DEFAULT_MAX_LENGTH = 128
PREVIEW_CHARS = 300
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "spiece.model", "vocab.json", "tokenizer.model")


def load_tokenizer(model_dir: Path) -> PreTrainedTokenizerBase:
    return AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)


class TextPreprocessor(Preprocessor):
    def __init__(self, tokenizer: PreTrainedTokenizerBase, max_length: int) -> None:
        self.tokenizer = tokenizer
        self.max_length = max_length

    def encode(self, raw: Sequence[Any]) -> TokenizedTexts:
        return tokenize(self.tokenizer, [str(text) for text in raw], self.max_length)

    def load_inputs(self, path: Path) -> TokenizedTexts:
        return TokenizedTexts.load(path)

    def cache_key(self) -> str:
        return str(self.max_length)

    def save(self, directory: Path) -> dict[str, Any]:
        self.tokenizer.save_pretrained(str(directory / "tokenizer"))
        return {"max_length": self.max_length}


class TextClassification(ClassifierTask):
    name = "text_classification"

    def raw_inputs(self, column: list[Any], files: InputFiles) -> list[Any]:
        return [text or "" for text in column]

    def preview(self, raw: Any, inputs: ModelInputs, position: int) -> dict[str, Any]:
        text = str(raw)
        return {"text": text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + "…"}

    def preprocessor(self, base_dir: Path, options: TrainingOptions) -> TextPreprocessor:
        return TextPreprocessor(load_tokenizer(base_dir), options.max_length or DEFAULT_MAX_LENGTH)

    def load_preprocessor(self, directory: Path, settings: dict[str, Any]) -> TextPreprocessor:
        max_length = int(settings.get("max_length") or DEFAULT_MAX_LENGTH)
        return TextPreprocessor(load_tokenizer(directory / "tokenizer"), max_length)

    def check_base_model(self, folder: Path) -> None:
        if "model_type" not in read_config(folder):
            raise ModelTypeError("config.json does not name a model_type")
        if not any((folder / name).is_file() for name in TOKENIZER_FILES):
            raise ModelTypeError(f"no tokenizer in the model folder (one of {', '.join(TOKENIZER_FILES)})")
        if not any(folder.glob("*.safetensors")) and not any(folder.glob("*.bin")):
            raise ModelTypeError("no weights (*.safetensors or *.bin) in the model folder")

    def encoder_config(self, model_dir: Path) -> EncoderConfig:
        return read_encoder_config(model_dir)

    def load_encoder(self, model_dir: Path) -> nn.Module:
        return load_encoder(model_dir)

    def save_encoder(self, encoder: nn.Module, directory: Path) -> None:
        encoder.save_pretrained(str(directory))  # type: ignore[operator]

    def classifier(self, encoder: nn.Module, spec: ClassifierSpec) -> MultiHeadClassifier:
        return TextClassifier(encoder, spec)
