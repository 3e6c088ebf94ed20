"""The multi-head classifier every classification type shares: an encoder that turns one input into one
vector, and one linear head per snapshot head. A model type supplies the encoder and ``embed``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import torch
from torch import nn

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
    """How the encoder's output becomes one vector per input: its width, and (text) the pooling and whether
    the vector is L2-normalised."""

    pooling: Pooling = "mean"
    normalize: bool = False
    hidden_size: int = 0


@dataclass
class ClassifierSpec:
    heads: list[HeadConfig]
    encoder: EncoderConfig = field(default_factory=EncoderConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClassifierSpec:
        return cls([HeadConfig.from_dict(head) for head in data["heads"]], EncoderConfig(**data["encoder"]))


class MultiHeadClassifier(nn.Module):
    """Subclasses say how a batch of inputs (the model type's tensors, by keyword) becomes embeddings."""

    def __init__(self, encoder: nn.Module, spec: ClassifierSpec, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        self.spec = spec
        self.dropout = nn.Dropout(dropout)
        self.heads = nn.ModuleList(nn.Linear(spec.encoder.hidden_size, len(h.classes)) for h in spec.heads)

    def embed(self, **inputs: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def classify(self, embeddings: torch.Tensor) -> list[torch.Tensor]:
        features = self.dropout(embeddings)
        return [head(features) for head in self.heads]

    def forward(self, **inputs: torch.Tensor) -> list[torch.Tensor]:
        return self.classify(self.embed(**inputs))


def probabilities(logits: torch.Tensor, multilabel: bool) -> torch.Tensor:
    return torch.sigmoid(logits) if multilabel else torch.softmax(logits, dim=-1)
