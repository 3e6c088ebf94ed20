"""The shared training loop driven directly in modelkit's tests: hooks that record what the loop hands them,
and a tiny text classifier (full fine-tune) with sentiment data it learns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from modelkit import model_types
from modelkit.classifier import ClassifierSpec, HeadConfig, MultiHeadClassifier
from modelkit.losses import HeadTargets
from modelkit.model_types.text_classification import load_tokenizer
from modelkit.model_types.text_classification.tokens import tokenize
from modelkit.training.data import Examples
from modelkit.training.loop import NoHooks
from tests.support.tiny_models import NEGATIVE, POSITIVE

TEXT = model_types.classifier("text_classification")


class Hooks(NoHooks):
    def __init__(self, every_steps: int = 0, interrupt_after: int | None = None) -> None:
        self.every_steps = every_steps
        self.interrupt_after = interrupt_after
        self.checkpoints: list[dict[str, Any]] = []
        self.step = 0

    def checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.checkpoints.append({key: value for key, value in checkpoint.items()})

    def checkpoint_due(self, step: int) -> bool:  # asked after every step but an epoch's last
        self.step = step
        return bool(self.every_steps) and step % self.every_steps == 0

    def interrupted(self) -> bool:  # asked before every step: SIGTERM arrived after step ``interrupt_after``
        return self.interrupt_after is not None and self.step >= self.interrupt_after


def data(base: Path, count: int = 96) -> Examples:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, count)
    texts = [" ".join(rng.choice(POSITIVE if y else NEGATIVE, 4)) for y in labels]
    return Examples(tokenize(load_tokenizer(base), texts, 16), [HeadTargets(labels, False)])


def model(base: Path) -> MultiHeadClassifier:
    torch.manual_seed(0)
    spec = ClassifierSpec([HeadConfig("sentiment", ["neg", "pos"])], TEXT.encoder_config(base))
    built = TEXT.classifier(TEXT.load_encoder(base), spec)
    TEXT.apply_method(built, "full")
    return built
