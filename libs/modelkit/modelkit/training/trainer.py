"""The training loop for the three methods, for every classification type (texts, images: the model type
gives the encoder and the batches of inputs, ``ModelInputs``).

- ``last_layer``: the encoder is frozen, so every input is embedded once and the heads train on the cached
  embeddings for many cheap epochs (so no training-time augmentation).
- ``lora``: peft adapters on the encoder's attention, plus the heads (the types that allow it).
- ``full``: every weight.

AdamW with a linear schedule and warmup, masked per-head losses with class weights, evaluation every epoch or
every N steps, early stopping and the selection rule, a checkpoint at the end of each epoch and whenever the
hooks say one is due (every N steps or minutes), and one when the run is interrupted (SIGTERM). Each epoch's
shuffle and dropout are seeded by (seed, epoch) and a checkpoint holds its place in the epoch and the random
state, so a run resumed from a checkpoint goes on where it stopped.

Under torch.distributed (lora and full) the model is wrapped in DistributedDataParallel and each rank takes
its shard of every global batch (the same global batches as one process: ``batch_size`` is the global
batch); every rank evaluates the same validation rows, so they take the same decisions; only rank 0 calls
the hooks that write (progress, evaluations, checkpoints). A checkpoint holds the global step and position,
not the world size, so it resumes at another world size. On a GPU the steps run under bf16 autocast where
the GPU supports it."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from automl_proto.models import TrainingOptions
from modelkit.classifier import MultiHeadClassifier, probabilities
from modelkit.losses import balanced_weights, multi_head_loss
from modelkit.metrics import HeadInput, evaluate
from modelkit.training.data import Examples, ModelInputs
from modelkit.training.distributed import World
from modelkit.training.selection import Selector, selection_name, selection_value

INFERENCE_BATCH = 128
DEFAULT_HEAD_LR = 1e-3


class TrainingCancelled(Exception):
    """Stopped on request: the run is over."""


class TrainingInterrupted(Exception):
    """Stopped by SIGTERM (preemption, eviction, shutdown) after a checkpoint: another attempt resumes it."""


class Hooks(Protocol):
    def progress(self, progress: dict[str, Any]) -> None: ...
    def evaluated(self, record: dict[str, Any]) -> None: ...
    def checkpoint(self, checkpoint: dict[str, Any]) -> None: ...
    def checkpoint_due(self, step: int) -> bool:
        """Whether to checkpoint after ``step`` (every N steps or minutes), besides each epoch's end."""
        ...

    def should_stop(self) -> bool:
        """Cancelled: stop now, no checkpoint."""
        ...

    def interrupted(self) -> bool:
        """Asked to stop for now (SIGTERM): checkpoint, then stop."""
        ...


@dataclass
class FitResult:
    history: list[dict[str, Any]]
    best_epoch: float | None
    best_step: int | None
    best_value: float | None
    stopped_early: bool
    best_state: dict[str, torch.Tensor]
    total_steps: int = 0
    seconds: float = 0.0
    examples_per_s: float | None = None
    embedding_s: float = 0.0


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}


def load_trainable(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    parameters = dict(model.named_parameters())
    with torch.no_grad():
        for name, value in state.items():
            parameters[name].copy_(value)


def device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def autocast(device: torch.device) -> torch.autocast:
    """bf16 autocast on a GPU that supports it; a no-op on the CPU."""
    enabled = device.type == "cuda" and torch.cuda.is_bf16_supported()
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)


@torch.no_grad()
def embed(model: MultiHeadClassifier, inputs: ModelInputs, batch_size: int = INFERENCE_BATCH) -> torch.Tensor:
    """One inference pass of the encoder over ``inputs``, in the inputs' cheapest batch order, returned in
    input order (on the CPU, whichever device the model is on)."""
    model.eval()
    device = device_of(model)
    out = torch.empty(len(inputs), model.spec.encoder.hidden_size)
    for positions in inputs.inference_batches(batch_size):
        batch = inputs.batch(positions)
        with autocast(device):
            pooled = model.embed(**{name: tensor.to(device) for name, tensor in batch.items()})
        out[torch.from_numpy(positions)] = pooled.float().cpu()
    return out


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


def linear_schedule(optimizer: torch.optim.Optimizer, warmup: int, total: int) -> torch.optim.lr_scheduler.LambdaLR:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        return max(0.0, (total - step) / max(1, total - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


@dataclass
class _Loop:
    model: MultiHeadClassifier
    method: str
    options: TrainingOptions
    train: Examples
    validation: Examples
    hooks: Hooks
    network: nn.Module  # the model, or its DistributedDataParallel wrapper
    device: torch.device
    train_embeddings: torch.Tensor | None = None
    validation_embeddings: torch.Tensor | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    step: int = 0
    running_loss: float = 0.0
    running_batches: int = 0

    def batches(self, epoch: int) -> Iterator[NDArray[np.int64]]:
        order = np.random.default_rng([self.options.seed, epoch]).permutation(len(self.train))
        size = self.options.batch_size or 32
        for start in range(0, len(order), size):
            yield order[start : start + size]

    def forward(self, positions: NDArray[np.int64]) -> list[torch.Tensor]:
        if self.train_embeddings is not None:
            return self.model.classify(self.train_embeddings[torch.from_numpy(positions)].to(self.device))
        batch = self.train.inputs.batch(positions, training=True)
        logits: list[torch.Tensor] = self.network(**{name: tensor.to(self.device) for name, tensor in batch.items()})
        return logits

    def validation_report(self) -> dict[str, Any]:
        embeddings = self.validation_embeddings
        if embeddings is None:
            embeddings = embed(self.model, self.validation.inputs)
        report = report_for(self.model, self.validation, head_scores(self.model, embeddings))
        self.model.train()
        if self.train_embeddings is not None:
            self.model.encoder.eval()  # frozen: no dropout in the (unused) encoder either
        return report


def _optimizer(model: MultiHeadClassifier, method: str, options: TrainingOptions) -> torch.optim.AdamW:
    lr = float(options.learning_rate or 1e-3)
    head_lr = lr if method == "last_layer" else float(options.head_learning_rate or max(lr, DEFAULT_HEAD_LR))
    head_params = [p for p in model.heads.parameters() if p.requires_grad]
    encoder_params = [p for p in model.encoder.parameters() if p.requires_grad]
    groups: list[dict[str, Any]] = [{"params": head_params, "lr": head_lr}]
    if encoder_params:
        groups.append({"params": encoder_params, "lr": lr})
    return torch.optim.AdamW(groups, weight_decay=options.weight_decay)


def fit(
    model: MultiHeadClassifier,
    method: str,
    options: TrainingOptions,
    train: Examples,
    validation: Examples,
    hooks: Hooks,
    resume: dict[str, Any] | None = None,
) -> FitResult:
    """Train ``model`` in place (its trainable parameters must already be set by the method) and return the
    history and the selected weights. ``resume`` is a checkpoint given earlier to ``hooks.checkpoint``."""
    options = options.resolved(method)
    assert options.max_epochs is not None
    assert options.batch_size is not None
    started = time.perf_counter()
    world = World.current()
    device = device_of(model)
    network: nn.Module = model
    if world.distributed and method != "last_layer":
        from torch.nn.parallel import DistributedDataParallel

        # static_graph: the same parameters take part in every step (kept heads are frozen, and every
        # head's output enters the loss), so DDP needs no search for unused ones.
        device_ids = [device.index] if device.type == "cuda" else None
        network = DistributedDataParallel(model, device_ids=device_ids, static_graph=True)
    loop = _Loop(model, method, options, train, validation, hooks, network, device)
    embedding_s = 0.0
    if method == "last_layer":
        begin = time.perf_counter()
        loop.train_embeddings = embed(model, train.inputs)
        loop.validation_embeddings = embed(model, validation.inputs) if len(validation) else None
        embedding_s = time.perf_counter() - begin
    steps_per_epoch = math.ceil(len(train) / options.batch_size)
    total_steps = steps_per_epoch * options.max_epochs
    optimizer = _optimizer(model, method, options)
    scheduler = linear_schedule(optimizer, int(total_steps * options.warmup_ratio), total_steps)
    weights = [w.to(device) if w is not None else None for w in class_weight_tensors(model, train, options)]
    multilabel = [head.multilabel for head in model.spec.heads]
    selection = options.selection
    selector = Selector(lower_is_better=selection.metric == "loss")
    if options.early_stopping is not None:
        selector.min_delta = options.early_stopping.min_delta
    best_state = trainable_state(model)
    start_epoch, skip_batches = 0, 0
    if resume is not None:
        load_trainable(model, resume["trainable"])
        optimizer.load_state_dict(resume["optimizer"])
        scheduler.load_state_dict(resume["scheduler"])
        selector.load(resume["selector"])
        best_state = resume["best_state"]
        loop.history = list(resume["history"])
        loop.step = int(resume["step"])
        start_epoch = int(resume["epoch"])
        skip_batches = int(resume.get("batch", 0))
        loop.running_loss, loop.running_batches = resume.get("running", (0.0, 0))
    metric_key = selection_name(selection)
    stopped_early = False
    window_start, window_examples = time.perf_counter(), 0
    trained_examples, training_s = 0, 0.0

    def evaluate_now(epoch: float) -> bool:
        nonlocal best_state
        train_loss = loop.running_loss / max(1, loop.running_batches)
        loop.running_loss, loop.running_batches = 0.0, 0
        record: dict[str, Any] = {"epoch": round(epoch, 4), "step": loop.step, "train_loss": train_loss}
        if len(validation):
            report = loop.validation_report()
            value = selection_value(report, selection)
            record["val_loss"] = report["overall"]["loss"]
            record[metric_key] = value
        else:  # no validation rows: keep the latest weights
            value = -float(loop.step) if selector.lower_is_better else float(loop.step)
        if selector.offer(value, epoch, loop.step):
            best_state = trainable_state(model)
        record["best"] = selector.best_step == loop.step
        loop.history.append(record)
        if world.leader:
            hooks.evaluated(record)
        patience = options.early_stopping.patience if options.early_stopping else None
        return patience is not None and selector.stale >= patience

    def checkpoint(epochs_done: int, batches_done: int) -> dict[str, Any]:
        """Where the run is: ``epochs_done`` whole epochs and ``batches_done`` batches of the next."""
        return {
            "epoch": epochs_done,
            "batch": batches_done,
            "step": loop.step,
            "trainable": trainable_state(model),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "selector": selector.state(),
            "best_state": best_state,
            "history": loop.history,
            "running": (loop.running_loss, loop.running_batches),
            "rng": torch.get_rng_state(),
        }

    model.train()
    if loop.train_embeddings is not None:
        model.encoder.eval()
    for epoch in range(start_epoch, options.max_epochs):
        torch.manual_seed(options.seed * 1000 + epoch)
        skip = skip_batches if epoch == start_epoch else 0
        if skip and resume is not None and "rng" in resume:
            torch.set_rng_state(resume["rng"])
        stop = False
        epoch_started = time.perf_counter()
        for index, positions in enumerate(loop.batches(epoch)):
            if index < skip:
                continue
            cancelled, interrupted = world.any(hooks.should_stop(), hooks.interrupted())
            if cancelled:
                raise TrainingCancelled
            if interrupted:
                if world.leader:
                    hooks.checkpoint(checkpoint(epoch, index))
                raise TrainingInterrupted
            mine, share = world.shard(positions)
            with autocast(device):
                logits = loop.forward(mine)
                targets = [t.to(device) for t in train.target_tensors(mine)]
                loss = multi_head_loss(logits, targets, multilabel, weights)
            if world.distributed:
                # Every head's output takes part (DDP's static graph), even one with no label in this shard.
                loss = loss * share + 0.0 * sum(head.float().sum() for head in logits)
            loss.backward()  # type: ignore[no-untyped-call]
            nn.utils.clip_grad_norm_([p for group in optimizer.param_groups for p in group["params"]], 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            loop.step += 1
            loop.running_loss += float(loss.detach())
            loop.running_batches += 1
            window_examples += len(positions)
            now = time.perf_counter()
            if world.leader and (now - window_start >= 1.0 or loop.step == total_steps):
                rate = window_examples / (now - window_start)
                remaining = (total_steps - loop.step) * len(positions) / rate if rate else None
                hooks.progress(
                    {
                        "step": loop.step,
                        "total_steps": total_steps,
                        "epoch": round(epoch + (index + 1) / steps_per_epoch, 4),
                        "loss": float(loss.detach()),
                        "examples_per_s": round(rate, 2),
                        "eta_s": round(remaining, 1) if remaining is not None else None,
                    }
                )
                window_start, window_examples = now, 0
            if options.eval_strategy == "steps" and loop.step % options.eval_steps == 0:
                stop = evaluate_now(epoch + (index + 1) / steps_per_epoch)
                if stop:
                    break
            if world.leader and index + 1 < steps_per_epoch and hooks.checkpoint_due(loop.step):
                hooks.checkpoint(checkpoint(epoch, index + 1))
        training_s += time.perf_counter() - epoch_started
        trained_examples += (len(train) if not stop else 0) - min(len(train), skip * options.batch_size)
        if not stop and (options.eval_strategy == "epoch" or loop.running_batches):
            stop = evaluate_now(float(epoch + 1))
        if world.leader:
            hooks.checkpoint(checkpoint(epoch + 1, 0))
        if stop:
            stopped_early = True
            break
    load_trainable(model, best_state)
    model.eval()
    return FitResult(
        history=loop.history,
        best_epoch=selector.best_epoch,
        best_step=selector.best_step,
        best_value=selector.best,
        stopped_early=stopped_early,
        best_state=best_state,
        total_steps=total_steps,
        seconds=time.perf_counter() - started,
        examples_per_s=trained_examples / training_s if training_s and trained_examples > 0 else None,
        embedding_s=embedding_s,
    )
