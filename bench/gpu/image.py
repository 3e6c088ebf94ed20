"""Image classification, full fine-tune, at MobileNetV2 size (224 px) through the platform's own path (the
registry's image type: its backbone and classifier, the decoded-pixels inputs; ``fit``): images/s of one epoch
sized to a few seconds, in bf16 and in fp32 (the baseline), and bf16's peak GPU memory."""

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
from modelkit.model_types.image_classification.backbones import IMAGENET_MEAN, IMAGENET_STD
from modelkit.model_types.image_classification.tensors import ImageTensors
from modelkit.training.data import Examples
from modelkit.training.loop import NoHooks
from modelkit.training.trainer import fit

CLASSES = [str(digit) for digit in range(10)]


def build(base_dir: Path, device: torch.device) -> MultiHeadClassifier:
    task = model_types.classifier("image_classification")
    torch.manual_seed(0)
    model = task.classifier(
        task.load_encoder(base_dir), ClassifierSpec([HeadConfig("label", CLASSES)], task.encoder_config(base_dir))
    )
    task.apply_method(model, "full")
    return model.to(device)


def images(count: int, size: int) -> Examples:
    labels = np.random.default_rng(2).integers(0, len(CLASSES), count)
    inputs = ImageTensors(models.pixels(count, size), IMAGENET_MEAN, IMAGENET_STD)
    return Examples(inputs, [HeadTargets(labels, False)])


def run(setup: Setup) -> str:
    config = models.TINY_MOBILENET if setup.tiny else models.MOBILENET_V2
    size = int(config["image_size"])
    batch = 8 if setup.tiny else 64
    options = TrainingOptions(max_epochs=1, batch_size=batch, learning_rate=1e-3, seed=0, validation_pct=5)
    rates, peak = {}, 0.0
    with tempfile.TemporaryDirectory(prefix="gpu-image-") as directory:
        base_dir = models.image_backbone(config, Path(directory) / "mobilenet")
        validation = images(batch, size)
        for precision in ("bf16", "fp32"):
            run_options = options.model_copy(update={"precision": precision})
            warm = fit(
                build(base_dir, setup.device), "full", run_options, images(batch * 3, size), validation, NoHooks()
            )
            count = sized(warm.examples_per_s or 1.0, setup.seconds(6), batch, batch * 2, 3_000)
            data = images(count, size)
            with peak_memory(setup.device) as memory:
                result = fit(build(base_dir, setup.device), "full", run_options, data, validation, NoHooks())
            rates[precision] = result.examples_per_s or 0.0
            if precision == "bf16":
                peak = memory[0]
    return (
        f"MobileNetV2 {size} px full fine-tune: bf16 {number(rates['bf16'])} images/s "
        f"({rates['bf16'] / rates['fp32']:.2f}x fp32's {number(rates['fp32'])}), {gib(setup, peak)}, batch {batch}"
    )
