"""A causal LM's objective for the shared training loop: each step's examples packed into rows without attention
across examples, the mean loss over the tokens the model is trained to produce; validation is that loss over
the held-out examples, and its perplexity (exp of it). The selection and early stopping read the loss."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from automl_proto.models import Precision, TrainingOptions
from modelkit.model_types.llm.chat import IGNORE, Encoded
from modelkit.model_types.llm.packing import pack
from modelkit.training.loop import autocast, device_of

EVAL_ROWS = 8  # packed rows per evaluation batch


def packed_batch(
    examples: Sequence[Encoded], positions: Sequence[int], max_length: int, pad_id: int
) -> dict[str, torch.Tensor]:
    chosen = [examples[int(p)] for p in positions]
    packed, too_long = pack([len(example) for example in chosen], max_length)
    assert not too_long, "examples over max_length are left out before training"
    return packed.batch(chosen, pad_id)


def token_loss(network: nn.Module, batch: dict[str, torch.Tensor], device: torch.device) -> tuple[torch.Tensor, int]:
    """The summed cross-entropy over the labelled tokens of a packed batch, and how many there are."""
    batch = {name: tensor.to(device) for name, tensor in batch.items()}
    labels = batch.pop("labels")
    # No cache: with one, transformers reads each packed row as one sequence (see ``packing``).
    logits = network(**batch, use_cache=False).logits
    shifted_logits = logits[:, :-1].reshape(-1, logits.size(-1)).float()
    shifted_labels = labels[:, 1:].reshape(-1)
    total = nn.functional.cross_entropy(shifted_logits, shifted_labels, ignore_index=IGNORE, reduction="sum")
    return total, int((shifted_labels != IGNORE).sum())


@torch.no_grad()
def evaluate_loss(
    model: nn.Module, examples: Sequence[Encoded], max_length: int, pad_id: int, precision: Precision = "auto"
) -> dict[str, float]:
    """Mean loss per trained-on token over ``examples`` and its perplexity."""
    model.eval()
    device = device_of(model)
    packed, _ = pack([len(example) for example in examples], max_length)
    total, tokens = 0.0, 0
    for start in range(0, len(packed.rows), EVAL_ROWS):
        rows = packed.rows[start : start + EVAL_ROWS]
        positions = [index for row in rows for index in row]
        batch = packed_batch(examples, positions, max_length, pad_id)
        with autocast(device, precision):
            loss, count = token_loss(model, batch, device)
        total += float(loss)
        tokens += count
    mean = total / max(1, tokens)
    return {"loss": mean, "perplexity": math.exp(min(mean, 50.0))}


class CausalLMObjective:
    """Every trainable weight of a causal LM (LoRA adapters or the whole model) on its examples' tokens."""

    metric_key = "val_loss"
    lower_is_better = True

    def __init__(
        self,
        model: nn.Module,
        options: TrainingOptions,
        train: Sequence[Encoded],
        validation: Sequence[Encoded],
        pad_id: int,
    ) -> None:
        if options.max_length is None:
            raise ValueError("options.max_length: the run's length is chosen before training (see choose_max_length)")
        self.model = model
        self.options = options
        self.max_length = options.max_length
        self.train = train
        self.validation = validation
        self.pad_id = pad_id
        self.device = device_of(model)
        self.tokens_trained = 0

    def __len__(self) -> int:
        return len(self.train)

    def has_validation(self) -> bool:
        return len(self.validation) > 0

    def trains_network(self) -> bool:
        return True

    def prepare(self) -> float:
        return 0.0

    def parameter_groups(self, options: TrainingOptions) -> list[dict[str, Any]]:
        lr = float(options.learning_rate or 2e-4)
        return [{"params": [p for p in self.model.parameters() if p.requires_grad], "lr": lr}]

    def train_mode(self) -> None:
        self.model.train()

    def loss(self, network: nn.Module, positions: NDArray[np.int64], share: float, distributed: bool) -> torch.Tensor:
        batch = packed_batch(self.train, positions.tolist(), self.max_length, self.pad_id)
        total, tokens = token_loss(network, batch, self.device)
        self.tokens_trained += int(sum(len(self.train[int(p)]) for p in positions))
        loss = total / max(1, tokens)
        return loss * share if distributed else loss

    def validate(self) -> tuple[dict[str, Any], float]:
        figures = evaluate_loss(self.model, self.validation, self.max_length, self.pad_id, self.options.precision)
        self.train_mode()
        return {"val_perplexity": figures["perplexity"]}, figures["loss"]
