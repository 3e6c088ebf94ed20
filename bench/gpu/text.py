"""Text classification, full fine-tune, at MiniLM-L6 and MPNet-base sizes, through the platform's own path
(the registry's text type: its pre-processor, encoder and classifier; ``modelkit.training.trainer.fit``, the
shared loop the worker runs). Per size:

- the loss of the first steps in bf16 against the same steps in fp32 (same weights, data and seed): they
  must agree within ``AGREEMENT`` (else the part fails);
- examples/s of one epoch sized to a few seconds, in bf16 and in fp32 (the baseline), and bf16's peak GPU
  memory."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch

from automl_proto.models import TrainingOptions
from bench.gpu import models
from bench.gpu.common import Setup, gib, number, peak_memory, sized
from modelkit import model_types
from modelkit.classifier import ClassifierSpec, HeadConfig, MultiHeadClassifier
from modelkit.losses import HeadTargets
from modelkit.training.data import Examples
from modelkit.training.loop import NoHooks
from modelkit.training.trainer import fit

AGREEMENT = 0.02  # relative difference of a step's loss, bf16 against fp32
COMPARED_STEPS = 5
CLASSES = ["a", "b", "c", "d"]


def build(base_dir: Path, device: torch.device) -> MultiHeadClassifier:
    """The classifier the worker builds for a full fine-tune, with the same heads' weights every time."""
    task = model_types.classifier("text_classification")
    torch.manual_seed(0)
    spec = ClassifierSpec([HeadConfig("label", CLASSES)], task.encoder_config(base_dir))
    model = task.classifier(task.load_encoder(base_dir), spec)
    task.apply_method(model, "full")
    return model.to(device)


def examples(
    base_dir: Path, size: models.TextEncoderSize, count: int, length: int, options: TrainingOptions
) -> Examples:
    preprocessor = model_types.classifier("text_classification").preprocessor(base_dir, options)
    labels = np.random.default_rng(1).integers(0, len(CLASSES), count)
    return Examples(preprocessor.encode(models.texts(size, count, length)), [HeadTargets(labels, False)])


def one_size(setup: Setup, size: models.TextEncoderSize, work: Path) -> str:
    base_dir = models.text_encoder(size, work / size.name)
    length = 16 if setup.tiny else 128
    batch = 8 if setup.tiny else 32
    options = TrainingOptions(
        max_epochs=1, batch_size=batch, learning_rate=5e-5, seed=0, max_length=length, validation_pct=5
    )
    validation = examples(base_dir, size, batch, length, options)

    # The first steps, each evaluated (eval_steps=1) so each step's training loss is recorded.
    stepwise = options.model_copy(update={"eval_strategy": "steps", "eval_steps": 1})
    train = examples(base_dir, size, batch * COMPARED_STEPS, length, options)
    losses = {}
    for precision in ("fp32", "bf16"):
        run = stepwise.model_copy(update={"precision": precision})
        result = fit(build(base_dir, setup.device), "full", run, train, validation, NoHooks())
        losses[precision] = [record["train_loss"] for record in result.history]
    worst = max(abs(b - f) / abs(f) for f, b in zip(losses["fp32"], losses["bf16"], strict=True))
    if worst > AGREEMENT:
        raise AssertionError(f"{size.name}: bf16 losses {losses['bf16']} against fp32 {losses['fp32']}")

    rates, peak = {}, 0.0
    for precision in ("bf16", "fp32"):
        run = options.model_copy(update={"precision": precision})
        warm = fit(build(base_dir, setup.device), "full", run, train, validation, NoHooks())
        count = sized(warm.examples_per_s or 1.0, setup.seconds(6), batch, batch * 2, 40_000)
        data = examples(base_dir, size, count, length, options)
        model = build(base_dir, setup.device)
        with peak_memory(setup.device) as memory:
            result = fit(model, "full", run, data, validation, NoHooks())
        rates[precision] = result.examples_per_s or 0.0
        if precision == "bf16":
            peak = memory[0]
        del model
    return (
        f"{size.name}: bf16 {number(rates['bf16'])} ex/s ({rates['bf16'] / rates['fp32']:.2f}x fp32's "
        f"{number(rates['fp32'])}), {gib(setup, peak)}, batch {batch} x {length} tokens; "
        f"loss over {COMPARED_STEPS} steps bf16 vs fp32: max rel diff {worst:.2%} (limit {AGREEMENT:.0%})"
    )


def run(setup: Setup) -> str:
    sizes = (models.TINY_BERT, models.TINY_MPNET) if setup.tiny else (models.MINILM_L6, models.MPNET_BASE)
    with tempfile.TemporaryDirectory(prefix="gpu-text-") as directory:
        return " | ".join(one_size(setup, size, Path(directory)) for size in sizes)
