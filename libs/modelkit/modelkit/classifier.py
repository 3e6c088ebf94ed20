"""The multi-head text classifier: one shared encoder, one linear head per snapshot head."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, PreTrainedModel

Pooling = Literal["mean", "cls"]


@dataclass
class HeadConfig:
    name: str
    classes: list[str]
    multilabel: bool = False
    # Multi-label: one decision threshold per class; single-label heads predict the arg max.
    thresholds: list[float] | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HeadConfig:
        return cls(data["name"], list(data["classes"]), bool(data.get("multilabel")), data.get("thresholds"))


@dataclass
class EncoderConfig:
    """How a base model's hidden states become one vector per text (from the sentence-transformers files)."""

    pooling: Pooling = "mean"
    normalize: bool = False
    hidden_size: int = 0

    @classmethod
    def read(cls, model_dir: Path) -> EncoderConfig:
        pooling: Pooling = "mean"
        pooling_file = model_dir / "1_Pooling" / "config.json"
        if pooling_file.is_file() and json.loads(pooling_file.read_text()).get("pooling_mode_cls_token"):
            pooling = "cls"
        normalize = False
        modules_file = model_dir / "modules.json"
        if modules_file.is_file():
            normalize = any(str(m.get("type", "")).endswith("Normalize") for m in json.loads(modules_file.read_text()))
        hidden = int(AutoConfig.from_pretrained(str(model_dir), local_files_only=True).hidden_size)
        return cls(pooling, normalize, hidden)


def load_encoder(model_dir: Path) -> PreTrainedModel:
    return AutoModel.from_pretrained(str(model_dir), local_files_only=True, add_pooling_layer=False)  # type: ignore[no-any-return]


@dataclass
class ClassifierSpec:
    heads: list[HeadConfig]
    encoder: EncoderConfig = field(default_factory=EncoderConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class MultiHeadClassifier(nn.Module):
    def __init__(self, encoder: nn.Module, spec: ClassifierSpec, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        self.spec = spec
        self.dropout = nn.Dropout(dropout)
        self.heads = nn.ModuleList(nn.Linear(spec.encoder.hidden_size, len(h.classes)) for h in spec.heads)

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden: torch.Tensor = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        if self.spec.encoder.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        if self.spec.encoder.normalize:
            pooled = nn.functional.normalize(pooled, p=2.0, dim=1)
        return pooled

    def classify(self, embeddings: torch.Tensor) -> list[torch.Tensor]:
        features = self.dropout(embeddings)
        return [head(features) for head in self.heads]

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> list[torch.Tensor]:
        return self.classify(self.embed(input_ids, attention_mask))


def probabilities(logits: torch.Tensor, multilabel: bool) -> torch.Tensor:
    return torch.sigmoid(logits) if multilabel else torch.softmax(logits, dim=-1)
