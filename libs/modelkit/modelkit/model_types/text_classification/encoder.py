"""Text encoders: a transformers model whose hidden states are pooled (the sentence-transformers way) into one
vector per text."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, PreTrainedModel

from modelkit.classifier import EncoderConfig, MultiHeadClassifier, Pooling


def read_encoder_config(model_dir: Path) -> EncoderConfig:
    """Pooling and normalisation from the sentence-transformers files; the width from config.json."""
    pooling: Pooling = "mean"
    pooling_file = model_dir / "1_Pooling" / "config.json"
    if pooling_file.is_file() and json.loads(pooling_file.read_text()).get("pooling_mode_cls_token"):
        pooling = "cls"
    normalize = False
    modules_file = model_dir / "modules.json"
    if modules_file.is_file():
        normalize = any(str(m.get("type", "")).endswith("Normalize") for m in json.loads(modules_file.read_text()))
    hidden = int(AutoConfig.from_pretrained(str(model_dir), local_files_only=True).hidden_size)
    return EncoderConfig(pooling, normalize, hidden)


def load_encoder(model_dir: Path) -> PreTrainedModel:
    return AutoModel.from_pretrained(str(model_dir), local_files_only=True, add_pooling_layer=False)  # type: ignore[no-any-return]


class TextClassifier(MultiHeadClassifier):
    def embed(self, **inputs: torch.Tensor) -> torch.Tensor:
        attention_mask = inputs["attention_mask"]
        hidden: torch.Tensor = self.encoder(
            input_ids=inputs["input_ids"], attention_mask=attention_mask
        ).last_hidden_state
        if self.spec.encoder.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        if self.spec.encoder.normalize:
            pooled = nn.functional.normalize(pooled, p=2.0, dim=1)
        return pooled
