"""The artifact format of a trained classifier (any classification type), written by the worker and loaded
by inference.

    model.json            format version, model type, method, base model (id, sha256), pre-processing
                          settings (text: max length; images: size and normalisation), encoder and heads
    heads.safetensors     the heads' weights ("heads.<i>.weight", "heads.<i>.bias"), in model.json's order
    encoder/              full fine-tune: the whole encoder, as the model type saves it
    adapter/              LoRA: the peft adapter (``save_pretrained``); the base model comes from the store
    tokenizer/            text: the tokenizer

A last-layer or LoRA model needs its base model's files too (by content hash, shared by every model built on
it); a full fine-tune is self-contained."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from modelkit import model_types
from modelkit.classifier import ClassifierSpec, MultiHeadClassifier
from modelkit.model_types.base import Preprocessor

FORMAT_VERSION = 1


class ArtifactError(Exception):
    pass


@dataclass
class ArtifactManifest:
    method: str
    base_model_id: str
    base_model_sha256: str
    spec: ClassifierSpec
    format_version: int = FORMAT_VERSION
    model_type: str = "text_classification"
    preprocessing: dict[str, Any] = field(default_factory=dict)

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
        return cls(
            method=data["method"],
            base_model_id=data["base_model_id"],
            base_model_sha256=data["base_model_sha256"],
            spec=ClassifierSpec.from_dict(data["spec"]),
            model_type=data.get("model_type", "text_classification"),
            # text artifacts written before pre-processing settings had their own field kept max_length alone
            preprocessing=dict(data.get("preprocessing") or {"max_length": data["max_length"]}),
        )


def head_state(model: MultiHeadClassifier) -> dict[str, torch.Tensor]:
    return {f"heads.{name}": value.detach().contiguous() for name, value in model.heads.state_dict().items()}


def save(model: MultiHeadClassifier, manifest: ArtifactManifest, preprocessor: Preprocessor, out: Path) -> None:
    task = model_types.classifier(manifest.model_type)
    out.mkdir(parents=True, exist_ok=True)
    save_file(head_state(model), str(out / "heads.safetensors"))
    if manifest.method == "full":
        task.save_encoder(model.encoder, out / "encoder")
    elif manifest.method == "lora":
        model.encoder.save_pretrained(str(out / "adapter"))  # type: ignore[operator]
    manifest.preprocessing = preprocessor.save(out)
    (out / "model.json").write_text(manifest.to_json())


def load_heads(model: MultiHeadClassifier, directory: Path) -> None:
    state = load_file(str(directory / "heads.safetensors"))
    model.heads.load_state_dict({name.removeprefix("heads."): value for name, value in state.items()})


def load(
    directory: Path, base_dir: Path | None, *, merge: bool = True
) -> tuple[MultiHeadClassifier, ArtifactManifest, Preprocessor]:
    """A trained model ready for inference (eval mode). ``base_dir`` holds the base model's files (needed
    unless the model is a full fine-tune). With ``merge`` a LoRA adapter is folded into the weights."""
    manifest = ArtifactManifest.read(directory)
    try:
        task = model_types.classifier(manifest.model_type)
    except model_types.UnknownModelType as e:
        raise ArtifactError(str(e)) from e
    if manifest.method == "full":
        encoder: nn.Module = task.load_encoder(directory / "encoder")
    else:
        if base_dir is None:
            raise ArtifactError(f"a {manifest.method} model needs its base model {manifest.base_model_id}")
        encoder = task.load_encoder(base_dir)
        if manifest.method == "lora":
            from peft import PeftModel

            peft_model = PeftModel.from_pretrained(encoder, str(directory / "adapter"))
            encoder = peft_model.merge_and_unload() if merge else peft_model
    model = task.classifier(encoder, manifest.spec)
    load_heads(model, directory)
    model.eval()
    return model, manifest, task.load_preprocessor(directory, manifest.preprocessing)
