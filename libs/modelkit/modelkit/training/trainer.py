"""Training classifiers (every classification type: texts, images; the model type gives the encoder and the
batches of inputs, ``ModelInputs``) with the three methods, through the shared loop (``training.loop``):

- ``last_layer``: the encoder is frozen, so every input is embedded once and the heads train on the cached
  embeddings for many cheap epochs (so no training-time augmentation).
- ``lora``: peft adapters on the encoder's attention, plus the heads (the types that allow it).
- ``full``: every weight.

Masked per-head losses with class weights; validation is the metrics report, the selection rule reads it."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from automl_proto.models import Precision, TrainingOptions
from modelkit.classifier import MultiHeadClassifier, probabilities
from modelkit.losses import balanced_weights, multi_head_loss
from modelkit.metrics import HeadInput, evaluate
from modelkit.training.data import Examples, ModelInputs
from modelkit.training.embedding_cache import Embedded, EmbeddingCache
from modelkit.training.loop import FitResult, Hooks, autocast, device_of
from modelkit.training.loop import train as train_loop
from modelkit.training.selection import selection_name, selection_value

INFERENCE_BATCH = 128
DEFAULT_HEAD_LR = 1e-3


@torch.no_grad()
def embed(
    model: MultiHeadClassifier,
    inputs: ModelInputs,
    batch_size: int = INFERENCE_BATCH,
    precision: Precision = "auto",
) -> torch.Tensor:
    """One inference pass of the encoder over ``inputs``, in the inputs' cheapest batch order, returned in
    input order (on the CPU, whichever device the model is on)."""
    model.eval()
    device = device_of(model)
    out = torch.empty(len(inputs), model.spec.encoder.hidden_size)
    for positions in inputs.inference_batches(batch_size):
        batch = inputs.batch(positions)
        with autocast(device, precision):
            pooled = model.embed(**{name: tensor.to(device) for name, tensor in batch.items()})
        out[torch.from_numpy(positions)] = pooled.float().cpu()
    return out


def embed_examples(
    model: MultiHeadClassifier, examples: Examples, precision: Precision, cache: EmbeddingCache | None
) -> Embedded:
    """``embed`` over the examples, through ``cache`` where there is one and the examples' keys are known."""
    if cache is not None and examples.keys is not None:
        hidden = model.spec.encoder.hidden_size
        return cache.embed(examples.inputs, examples.keys, hidden, lambda part: embed(model, part, precision=precision))
    return Embedded(embed(model, examples.inputs, precision=precision), len(examples))


@torch.no_grad()
def head_scores(model: MultiHeadClassifier, embeddings: torch.Tensor) -> list[NDArray[np.float64]]:
    model.eval()
    logits = model.classify(embeddings.to(device_of(model)))
    return [
        probabilities(head_logits.float(), head.multilabel).double().cpu().numpy()
        for head_logits, head in zip(logits, model.spec.heads, strict=True)
    ]


def report_for(model: MultiHeadClassifier, data: Examples, scores: list[NDArray[np.float64]]) -> dict[str, Any]:
    """The metrics report over the heads that have at least one labelled row in ``data``."""
    inputs = [
        HeadInput(head.name, head.classes, target.values, head_scores_, head.multilabel)
        for head, target, head_scores_ in zip(model.spec.heads, data.targets, scores, strict=True)
        if target.labelled().any()
    ]
    return evaluate(inputs)


def class_weight_tensors(
    model: MultiHeadClassifier, data: Examples, options: TrainingOptions
) -> list[torch.Tensor | None]:
    weights: list[torch.Tensor | None] = []
    for head, target in zip(model.spec.heads, data.targets, strict=True):
        if options.class_weights == "balanced":
            weights.append(torch.from_numpy(balanced_weights(target, len(head.classes))))
        elif isinstance(options.class_weights, dict) and head.name in options.class_weights:
            custom = options.class_weights[head.name]
            weights.append(torch.tensor([float(custom.get(name, 1.0)) for name in head.classes]))
        else:
            weights.append(None)
    return weights


class ClassifierObjective:
    """A multi-head classifier's heads (and encoder, unless frozen) against its examples' labels."""

    def __init__(
        self, model: MultiHeadClassifier, method: str, options: TrainingOptions, train: Examples, validation: Examples,
        cache: EmbeddingCache | None = None,
    ) -> None:  # fmt: skip
        self.model = model
        self.cache = cache  # where the frozen encoder's embeddings are kept between runs
        self.embedded = 0  # rows the frozen encoder embedded (the others came from ``cache``)
        self.method = method
        self.options = options
        self.train = train
        self.validation = validation
        self.metric_key = selection_name(options.selection)
        self.lower_is_better = options.selection.metric == "loss"
        self.device = device_of(model)
        self.train_embeddings: torch.Tensor | None = None
        self.validation_embeddings: torch.Tensor | None = None
        self.weights = [
            w.to(self.device) if w is not None else None for w in class_weight_tensors(model, train, options)
        ]
        self.multilabel = [head.multilabel for head in model.spec.heads]

    def __len__(self) -> int:
        return len(self.train)

    def has_validation(self) -> bool:
        return len(self.validation) > 0

    def trains_network(self) -> bool:
        return self.method != "last_layer"

    def prepare(self) -> float:
        if self.method != "last_layer":
            return 0.0
        begin = time.perf_counter()
        precision = self.options.precision
        train = embed_examples(self.model, self.train, precision, self.cache)
        self.train_embeddings, self.embedded = train.vectors, train.computed
        if len(self.validation):
            validation = embed_examples(self.model, self.validation, precision, self.cache)
            self.validation_embeddings, self.embedded = validation.vectors, self.embedded + validation.computed
        return time.perf_counter() - begin

    def parameter_groups(self, options: TrainingOptions) -> list[dict[str, Any]]:
        lr = float(options.learning_rate or 1e-3)
        head_lr = lr if self.method == "last_layer" else float(options.head_learning_rate or max(lr, DEFAULT_HEAD_LR))
        head_params = [p for p in self.model.heads.parameters() if p.requires_grad]
        encoder_params = [p for p in self.model.encoder.parameters() if p.requires_grad]
        groups: list[dict[str, Any]] = [{"params": head_params, "lr": head_lr}]
        if encoder_params:
            groups.append({"params": encoder_params, "lr": lr})
        return groups

    def train_mode(self) -> None:
        self.model.train()
        if self.train_embeddings is not None:
            self.model.encoder.eval()  # frozen: no dropout in the (unused) encoder either

    def forward(self, network: nn.Module, positions: NDArray[np.int64]) -> list[torch.Tensor]:
        if self.train_embeddings is not None:
            return self.model.classify(self.train_embeddings[torch.from_numpy(positions)].to(self.device))
        batch = self.train.inputs.batch(positions, training=True)
        logits: list[torch.Tensor] = network(**{name: tensor.to(self.device) for name, tensor in batch.items()})
        return logits

    def loss(self, network: nn.Module, positions: NDArray[np.int64], share: float, distributed: bool) -> torch.Tensor:
        logits = self.forward(network, positions)
        targets = [t.to(self.device) for t in self.train.target_tensors(positions)]
        loss = multi_head_loss(logits, targets, self.multilabel, self.weights)
        if distributed:
            # Every head's output takes part (DDP's static graph), even one with no label in this shard.
            loss = loss * share + 0.0 * sum(head.float().sum() for head in logits)
        return loss

    def validate(self) -> tuple[dict[str, Any], float]:
        embeddings = self.validation_embeddings
        if embeddings is None:
            embeddings = embed(self.model, self.validation.inputs, precision=self.options.precision)
        report = report_for(self.model, self.validation, head_scores(self.model, embeddings))
        self.train_mode()
        return {"val_loss": report["overall"]["loss"]}, selection_value(report, self.options.selection)


def fit(
    model: MultiHeadClassifier,
    method: str,
    options: TrainingOptions,
    train: Examples,
    validation: Examples,
    hooks: Hooks,
    resume: dict[str, Any] | None = None,
    cache: EmbeddingCache | None = None,
) -> FitResult:
    """Train ``model`` in place (its trainable parameters must already be set by the method) and return the
    history and the selected weights. ``resume`` is a checkpoint given earlier to ``hooks.checkpoint``;
    ``cache`` keeps the frozen encoder's embeddings between runs (last layer, examples with keys)."""
    options = options.resolved(method)
    objective = ClassifierObjective(model, method, options, train, validation, cache)
    result = train_loop(objective, options, hooks, resume)
    result.embedded_rows = objective.embedded
    return result
