"""The training loop every model type shares; what it trains on comes from an ``Objective`` (a classifier's
heads over embeddings or inputs, a causal LM's packed token batches).

AdamW with a linear schedule and warmup, evaluation every epoch or every N steps, early stopping and the
selection rule, a checkpoint at the end of each epoch and whenever the hooks say one is due (every N steps or
minutes), and one when the run is interrupted (SIGTERM). Each epoch's shuffle and dropout are seeded by
(seed, epoch) and a checkpoint holds its place in the epoch and the random state, so a run resumed from a
checkpoint goes on where it stopped.

Under torch.distributed the objective's network is wrapped in DistributedDataParallel (when it trains a
network at all) and each rank takes its shard of every global batch (the same global batches as one process:
``batch_size`` is the global batch); every rank evaluates the same validation rows, so they take the same
decisions; only rank 0 calls the hooks that write (progress, evaluations, checkpoints). A checkpoint holds the
global step and position, not the world size, so it resumes at another world size. The steps run at the
run's precision (``options.precision``: by default bf16 autocast on a GPU that supports it, else fp32; fp16
with loss scaling)."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from automl_proto.models import Precision, TrainingOptions
from modelkit.training.distributed import World
from modelkit.training.selection import Selector


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


class NoHooks:
    """Hooks that keep nothing and never stop a run: for a caller with no events, checkpoints or signals to
    handle (a benchmark, a test), which overrides the ones it needs."""

    def progress(self, progress: dict[str, Any]) -> None:
        pass

    def evaluated(self, record: dict[str, Any]) -> None:
        pass

    def checkpoint(self, checkpoint: dict[str, Any]) -> None:
        pass

    def checkpoint_due(self, step: int) -> bool:
        return False

    def should_stop(self) -> bool:
        return False

    def interrupted(self) -> bool:
        return False


class Objective(Protocol):
    """What one kind of model trains on. Positions index its training examples."""

    metric_key: str  # the name its selection value is recorded under (``val_loss``, ``val_f1``...)
    lower_is_better: bool

    @property
    def model(self) -> nn.Module:
        """The whole model; its parameters that require grad are the ones trained."""
        ...

    def __len__(self) -> int:
        """Training examples."""
        ...

    def prepare(self) -> float:
        """Work done once before the first step (a frozen encoder's embeddings); returns its seconds."""
        ...

    def trains_network(self) -> bool:
        """Whether the steps run through the network (so DDP wraps it), or only through cached features."""
        ...

    def parameter_groups(self, options: TrainingOptions) -> list[dict[str, Any]]: ...

    def train_mode(self) -> None:
        """The model as it trains (a frozen encoder stays in eval mode)."""
        ...

    def loss(self, network: nn.Module, positions: NDArray[np.int64], share: float, distributed: bool) -> torch.Tensor:
        """The loss of one rank's part of a batch, weighted by ``share`` under torch.distributed."""
        ...

    def validate(self) -> tuple[dict[str, Any], float]:
        """The validation figures for the epoch table (``val_loss``...), and the selection value. Leaves the
        model in train mode."""
        ...

    def has_validation(self) -> bool: ...


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
    embedded_rows: int = 0  # rows a frozen encoder embedded (the others came from an embedding cache)


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}


def load_trainable(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    parameters = dict(model.named_parameters())
    with torch.no_grad():
        for name, value in state.items():
            parameters[name].copy_(value)


def device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


Resolved = Literal["bf16", "fp16", "fp32"]
_DTYPES: dict[Resolved, torch.dtype] = {"bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_precision(requested: Precision, device: torch.device) -> Resolved:
    """``auto``: bf16 on a GPU that has it (Ampere and later), fp32 elsewhere (fp16 needs loss scaling and is
    asked for by name). bf16 and fp16 asked for by name run on the CPU too (torch's CPU autocast)."""
    if requested != "auto":
        return requested
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return "bf16"
    return "fp32"


def autocast(device: torch.device, precision: Precision = "auto") -> torch.autocast:
    """Mixed precision for the forward pass (weights stay fp32); fp32 is a no-op."""
    dtype = _DTYPES.get(resolve_precision(precision, device))
    return torch.autocast(device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None)


def grad_scaler(device: torch.device, precision: Precision) -> torch.amp.GradScaler:
    """fp16 gradients underflow without loss scaling; the other precisions need none (a disabled scaler)."""
    return torch.amp.GradScaler(device.type, enabled=resolve_precision(precision, device) == "fp16")


def linear_schedule(optimizer: torch.optim.Optimizer, warmup: int, total: int) -> torch.optim.lr_scheduler.LambdaLR:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        return max(0.0, (total - step) / max(1, total - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def cosine_schedule(optimizer: torch.optim.Optimizer, warmup: int, total: int) -> torch.optim.lr_scheduler.LambdaLR:
    """A linear warm-up over ``warmup`` steps, then a cosine decay to 0 at ``total``."""

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def batches(size: int, batch_size: int, seed: int, epoch: int) -> Iterator[NDArray[np.int64]]:
    order = np.random.default_rng([seed, epoch]).permutation(size)
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


def train(
    objective: Objective, options: TrainingOptions, hooks: Hooks, resume: dict[str, Any] | None = None
) -> FitResult:
    """Train ``objective.model`` in place and return the history and the selected weights (loaded into the
    model). ``options`` must be resolved (epochs and batch size set). ``resume`` is a checkpoint given earlier
    to ``hooks.checkpoint``."""
    assert options.max_epochs is not None
    assert options.batch_size is not None
    started = time.perf_counter()
    world = World.current()
    model = objective.model
    device = device_of(model)
    network: nn.Module = model
    if world.distributed and objective.trains_network():
        from torch.nn.parallel import DistributedDataParallel

        # static_graph: the same parameters take part in every step (the objective makes sure of it), so DDP
        # needs no search for unused ones.
        device_ids = [device.index] if device.type == "cuda" else None
        network = DistributedDataParallel(model, device_ids=device_ids, static_graph=True)
    embedding_s = objective.prepare()
    steps_per_epoch = math.ceil(len(objective) / options.batch_size)
    total_steps = steps_per_epoch * options.max_epochs
    optimizer = torch.optim.AdamW(objective.parameter_groups(options), weight_decay=options.weight_decay)
    scheduler = linear_schedule(optimizer, int(total_steps * options.warmup_ratio), total_steps)
    scaler = grad_scaler(device, options.precision)
    selector = Selector(lower_is_better=objective.lower_is_better)
    if options.early_stopping is not None:
        selector.min_delta = options.early_stopping.min_delta
    best_state = trainable_state(model)
    history: list[dict[str, Any]] = []
    step, running_loss, running_batches = 0, 0.0, 0
    start_epoch, skip_batches = 0, 0
    if resume is not None:
        load_trainable(model, resume["trainable"])
        optimizer.load_state_dict(resume["optimizer"])
        scheduler.load_state_dict(resume["scheduler"])
        if "scaler" in resume:
            scaler.load_state_dict(resume["scaler"])
        selector.load(resume["selector"])
        best_state = resume["best_state"]
        history = list(resume["history"])
        step = int(resume["step"])
        start_epoch = int(resume["epoch"])
        skip_batches = int(resume.get("batch", 0))
        running_loss, running_batches = resume.get("running", (0.0, 0))
    stopped_early = False
    window_start, window_examples = time.perf_counter(), 0
    trained_examples, training_s = 0, 0.0

    def evaluate_now(epoch: float) -> bool:
        nonlocal best_state, running_loss, running_batches
        train_loss = running_loss / max(1, running_batches)
        running_loss, running_batches = 0.0, 0
        record: dict[str, Any] = {"epoch": round(epoch, 4), "step": step, "train_loss": train_loss}
        if objective.has_validation():
            figures, value = objective.validate()
            record.update(figures)
            record[objective.metric_key] = value
        else:  # no validation rows: keep the latest weights
            value = -float(step) if selector.lower_is_better else float(step)
        if selector.offer(value, epoch, step):
            best_state = trainable_state(model)
        record["best"] = selector.best_step == step
        history.append(record)
        if world.leader:
            hooks.evaluated(record)
        patience = options.early_stopping.patience if options.early_stopping else None
        return patience is not None and selector.stale >= patience

    def checkpoint(epochs_done: int, batches_done: int) -> dict[str, Any]:
        """Where the run is: ``epochs_done`` whole epochs and ``batches_done`` batches of the next."""
        return {
            "epoch": epochs_done,
            "batch": batches_done,
            "step": step,
            "trainable": trainable_state(model),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict(),
            "selector": selector.state(),
            "best_state": best_state,
            "history": history,
            "running": (running_loss, running_batches),
            "rng": torch.get_rng_state(),
        }

    objective.train_mode()
    for epoch in range(start_epoch, options.max_epochs):
        torch.manual_seed(options.seed * 1000 + epoch)
        skip = skip_batches if epoch == start_epoch else 0
        if skip and resume is not None and "rng" in resume:
            torch.set_rng_state(resume["rng"])
        stop = False
        epoch_started = time.perf_counter()
        for index, positions in enumerate(batches(len(objective), options.batch_size, options.seed, epoch)):
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
            with autocast(device, options.precision):
                loss = objective.loss(network, mine, share, world.distributed)
            scaler.scale(loss).backward()  # type: ignore[no-untyped-call]
            scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
            nn.utils.clip_grad_norm_([p for group in optimizer.param_groups for p in group["params"]], 1.0)
            scaler.step(optimizer)  # skipped (and the scale lowered) when an fp16 gradient overflowed
            scaler.update()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            running_loss += float(loss.detach())
            running_batches += 1
            window_examples += len(positions)
            now = time.perf_counter()
            if world.leader and (now - window_start >= 1.0 or step == total_steps):
                rate = window_examples / (now - window_start)
                remaining = (total_steps - step) * len(positions) / rate if rate else None
                hooks.progress(
                    {
                        "step": step,
                        "total_steps": total_steps,
                        "epoch": round(epoch + (index + 1) / steps_per_epoch, 4),
                        "loss": float(loss.detach()),
                        "examples_per_s": round(rate, 2),
                        "eta_s": round(remaining, 1) if remaining is not None else None,
                    }
                )
                window_start, window_examples = now, 0
            if options.eval_strategy == "steps" and step % options.eval_steps == 0:
                stop = evaluate_now(epoch + (index + 1) / steps_per_epoch)
                if stop:
                    break
            if world.leader and index + 1 < steps_per_epoch and hooks.checkpoint_due(step):
                hooks.checkpoint(checkpoint(epoch, index + 1))
        training_s += time.perf_counter() - epoch_started
        trained_examples += (len(objective) if not stop else 0) - min(len(objective), skip * options.batch_size)
        if not stop and (options.eval_strategy == "epoch" or running_batches):
            stop = evaluate_now(float(epoch + 1))
        if world.leader:
            hooks.checkpoint(checkpoint(epoch + 1, 0))
        if stop:
            stopped_early = True
            break
    load_trainable(model, best_state)
    model.eval()
    return FitResult(
        history=history,
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
