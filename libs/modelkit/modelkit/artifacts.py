"""The artifact format of a trained text classifier, written by the worker and loaded by inference.

    model.json            format version, method, base model (id, sha256), max length, encoder and heads
    heads.safetensors     the heads' weights ("heads.<i>.weight", "heads.<i>.bias"), in model.json's order
    encoder/              full fine-tune: the whole encoder (transformers ``save_pretrained``)
    adapter/              LoRA: the peft adapter (``save_pretrained``); the base model comes from the store
    tokenizer/            the tokenizer

A last-layer or LoRA model needs its base model's files too (by content hash, shared by every model built on
it); a full fine-tune is self-contained."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import PreTrainedTokenizerBase

from automl_proto.models import LoraOptions
from modelkit.classifier import ClassifierSpec, EncoderConfig, HeadConfig, MultiHeadClassifier, load_encoder
from modelkit.text import load_tokenizer

FORMAT_VERSION = 1


class ArtifactError(Exception):
    pass


@dataclass
class ArtifactManifest:
    method: str
    base_model_id: str
    base_model_sha256: str
    max_length: int
    spec: ClassifierSpec
    format_version: int = FORMAT_VERSION
    model_type: str = "text_classification"

    def to_json(self) -> str:
        data = asdict(self)
        return json.dumps(data, indent=2, sort_keys=True)

    @classmethod
    def read(cls, directory: Path) -> ArtifactManifest:
        try:
            data: dict[str, Any] = json.loads((directory / "model.json").read_text())
        except (OSError, ValueError) as e:
            raise ArtifactError(f"unreadable model.json in {directory}: {e}") from e
        if data.get("format_version") != FORMAT_VERSION:
            raise ArtifactError(f"unsupported artifact format {data.get('format_version')!r}")
        spec = ClassifierSpec(
            heads=[HeadConfig.from_dict(head) for head in data["spec"]["heads"]],
            encoder=EncoderConfig(**data["spec"]["encoder"]),
        )
        return cls(
            method=data["method"],
            base_model_id=data["base_model_id"],
            base_model_sha256=data["base_model_sha256"],
            max_length=int(data["max_length"]),
            spec=spec,
            model_type=data.get("model_type", "text_classification"),
        )


def apply_method(model: MultiHeadClassifier, method: str, lora: LoraOptions | None = None) -> None:
    """Set which parameters train: the heads only, LoRA adapters and the heads, or everything."""
    if method == "last_layer":
        model.encoder.requires_grad_(False)
    elif method == "lora":
        lora = lora or LoraOptions()
        config = LoraConfig(
            r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=lora.target_modules
        )
        model.encoder = get_peft_model(model.encoder, config)
    elif method == "full":
        model.encoder.requires_grad_(True)
    else:
        raise ArtifactError(f"unknown method {method!r}")
    model.heads.requires_grad_(True)


def head_state(model: MultiHeadClassifier) -> dict[str, torch.Tensor]:
    return {f"heads.{name}": value.detach().contiguous() for name, value in model.heads.state_dict().items()}


def save(model: MultiHeadClassifier, manifest: ArtifactManifest, tokenizer: PreTrainedTokenizerBase, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    save_file(head_state(model), str(out / "heads.safetensors"))
    if manifest.method == "full":
        model.encoder.save_pretrained(str(out / "encoder"))  # type: ignore[operator]
    elif manifest.method == "lora":
        model.encoder.save_pretrained(str(out / "adapter"))  # type: ignore[operator]
    tokenizer.save_pretrained(str(out / "tokenizer"))
    (out / "model.json").write_text(manifest.to_json())


def load_heads(model: MultiHeadClassifier, directory: Path) -> None:
    state = load_file(str(directory / "heads.safetensors"))
    model.heads.load_state_dict({name.removeprefix("heads."): value for name, value in state.items()})


def load(
    directory: Path, base_dir: Path | None, *, merge: bool = True
) -> tuple[MultiHeadClassifier, ArtifactManifest, PreTrainedTokenizerBase]:
    """A trained model ready for inference (eval mode). ``base_dir`` holds the base model's files (needed
    unless the model is a full fine-tune). With ``merge`` a LoRA adapter is folded into the weights."""
    manifest = ArtifactManifest.read(directory)
    if manifest.method == "full":
        encoder: nn.Module = load_encoder(directory / "encoder")
    else:
        if base_dir is None:
            raise ArtifactError(f"a {manifest.method} model needs its base model {manifest.base_model_id}")
        encoder = load_encoder(base_dir)
        if manifest.method == "lora":
            peft_model = PeftModel.from_pretrained(encoder, str(directory / "adapter"))
            encoder = peft_model.merge_and_unload() if merge else peft_model
    model = MultiHeadClassifier(encoder, manifest.spec)
    load_heads(model, directory)
    model.eval()
    return model, manifest, load_tokenizer(directory / "tokenizer")
