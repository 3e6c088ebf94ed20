"""Causal language models (the ``llm`` type): a base model's chat template applied and fingerprinted, loss on
completion / assistant tokens only, examples packed without attention across them (``chat``, ``packing``),
trained with LoRA or in full through the shared loop (``training``), generated from (``generation``).

Artifacts: ``model.json`` (``LLMManifest``: method, base model, the fingerprint of the tokenizer and template
trained with, the maximum length), the tokenizer, and an ``adapter/`` (LoRA) or a whole ``model/`` (full)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from automl_proto.models import LoraOptions
from modelkit.model_types import ModelTypeError
from modelkit.model_types.base import ModelTask, read_config
from modelkit.model_types.llm.chat import ChatFormatError, Fingerprint

WEIGHT_PATTERNS = ("*.safetensors", "*.bin")
# Attention and MLP projections of Llama-style models (Llama, Mistral, Qwen, SmolLM...); others name theirs.
DEFAULT_LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")


class ArtifactMismatch(Exception):
    """Serving would not see what training saw (another tokenizer, template or end-of-sequence token)."""


@dataclass
class LLMManifest:
    method: str
    base_model_id: str
    base_model_sha256: str
    fingerprint: dict[str, Any]
    max_length: int
    model_type: str = "llm"
    family: str = "llm"
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def read(cls, directory: Path) -> LLMManifest:
        data = json.loads((directory / "model.json").read_text())
        return cls(**data)


def load_tokenizer(folder: Path) -> PreTrainedTokenizerBase:
    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    if tokenizer.pad_token_id is None:  # packing pads only the tails of rows; any id works, EOS is at hand
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(folder: Path, device: str = "cpu") -> PreTrainedModel:
    model: PreTrainedModel = AutoModelForCausalLM.from_pretrained(
        str(folder), local_files_only=True, dtype=torch.float32
    )
    torch.nn.Module.to(model, device)  # (PreTrainedModel.to's stub wants a model, not a device)
    return model


def import_gguf(gguf_file: Path, target: Path) -> None:
    """A GGUF model (transformers dequantises its weights on load) saved as a plain safetensors folder with its
    tokenizer and chat template: what every job and replica then reads."""
    tokenizer = AutoTokenizer.from_pretrained(str(gguf_file.parent), gguf_file=gguf_file.name)
    loaded = AutoModelForCausalLM.from_pretrained(str(gguf_file.parent), gguf_file=gguf_file.name, dtype=torch.float32)
    config = loaded.config
    if hasattr(config, "quantization_config"):  # dequantised: what is saved is plain weights
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)  # type: ignore[no-untyped-call]
    plain.load_state_dict(loaded.state_dict(), strict=True)
    plain.save_pretrained(str(target))
    tokenizer.save_pretrained(str(target))


def lora_targets(model: torch.nn.Module, lora: LoraOptions) -> list[str] | str:
    if lora.target_modules:
        return list(lora.target_modules)
    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    found = [target for target in DEFAULT_LORA_TARGETS if target in names]
    return found or "all-linear"


class LLMTask(ModelTask):
    name = "llm"

    def check_base_model(self, folder: Path) -> None:
        architectures = read_config(folder).get("architectures")
        if not architectures or not any(str(name).endswith("ForCausalLM") for name in architectures):
            raise ModelTypeError(f"config.json names no causal LM architecture (architectures: {architectures})")
        if not any(any(folder.glob(pattern)) for pattern in WEIGHT_PATTERNS):
            raise ModelTypeError("no weights (*.safetensors or *.bin) in the model folder")
        try:
            Fingerprint.of(load_tokenizer(folder))
        except (OSError, ValueError) as e:  # ChatFormatError is a ValueError: no template, no EOS
            raise ModelTypeError(f"the tokenizer cannot be used: {e}") from e

    def apply_method(self, model: PreTrainedModel, method: str, lora: LoraOptions | None = None) -> torch.nn.Module:
        """The model to train: peft adapters on the attention projections (LoRA), or every weight (full)."""
        self.check_method(method)
        if method == "lora":
            from peft import LoraConfig, get_peft_model

            lora = lora or LoraOptions()
            config = LoraConfig(
                r=lora.r,
                lora_alpha=lora.alpha,
                lora_dropout=lora.dropout,
                target_modules=lora_targets(model, lora),
                task_type="CAUSAL_LM",
            )
            peft_model: torch.nn.Module = get_peft_model(model, config)
            return peft_model
        model.requires_grad_(True)
        return model

    # -- artifacts --------------------------------------------------------------------------------------
    def save(
        self, model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, manifest: LLMManifest, out: Path
    ) -> None:
        out.mkdir(parents=True, exist_ok=True)
        if manifest.method == "lora":
            model.save_pretrained(str(out / "adapter"))  # type: ignore[operator]
        else:
            model.save_pretrained(str(out / "model"))  # type: ignore[operator]
        tokenizer.save_pretrained(str(out / "tokenizer"))
        (out / "model.json").write_text(manifest.to_json())

    def load(
        self, directory: Path, base_dir: Path | None, *, merge: bool = True
    ) -> tuple[torch.nn.Module, PreTrainedTokenizerBase, LLMManifest]:
        """A trained model for generation (eval mode), after checking that the tokenizer it will be served
        with is the one it was trained with. With ``merge`` a LoRA adapter is folded into the weights."""
        manifest = LLMManifest.read(directory)
        tokenizer = load_tokenizer(directory / "tokenizer")
        trained = Fingerprint(**manifest.fingerprint)
        differences = trained.differences(Fingerprint.of(tokenizer))
        if differences:
            raise ArtifactMismatch("; ".join(differences))
        if manifest.method == "full":
            model: torch.nn.Module = load_model(directory / "model")
        else:
            if base_dir is None:
                raise ArtifactMismatch(f"a LoRA model needs its base model {manifest.base_model_id}")
            from peft import PeftModel

            peft_model = PeftModel.from_pretrained(load_model(base_dir), str(directory / "adapter"))
            model = peft_model.merge_and_unload() if merge else peft_model
        model.eval()
        return model, tokenizer, manifest


__all__ = ["ArtifactMismatch", "ChatFormatError", "LLMManifest", "LLMTask", "load_model", "load_tokenizer"]
