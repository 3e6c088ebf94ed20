"""Serving a classifier as a replica does (Ray is not on the GPU machine: the replica's own pieces, in process):
a MiniLM-L6-sized last-layer model written in the platform's artifact format, loaded with
``ClassifierPredictor.load`` on the device, every call through the replica's one torch thread
(``TorchThread``). Figures: predict p50 for one text, and texts/s with batches of 32; the baseline is the same
predictor on the CPU in the same run."""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

import torch

from automl_proto.models import TrainingOptions
from bench.gpu import models
from bench.gpu.common import Setup, number, percentile
from inference_svc.serving.torch_thread import TorchThread
from modelkit import artifacts, model_types
from modelkit.classifier import ClassifierSpec, HeadConfig
from modelkit.predict import ClassifierPredictor

BATCH = 32
WORDS = 40  # about a short post
CPU_THREADS = 4  # a CPU replica's torch threads in the baseline (the platform's default is 1)


def save_model(base_dir: Path, out: Path) -> None:
    """A last-layer model as the worker writes one (random heads: serving cost does not depend on them)."""
    task = model_types.classifier("text_classification")
    torch.manual_seed(0)
    spec = ClassifierSpec(
        [HeadConfig("toxic", ["no", "yes"]), HeadConfig("topic", ["a", "b", "c"])], task.encoder_config(base_dir)
    )
    model = task.classifier(task.load_encoder(base_dir), spec)
    manifest = artifacts.ArtifactManifest("last_layer", "base", "0" * 64, spec)
    artifacts.save(model, manifest, task.preprocessor(base_dir, TrainingOptions()), out)


async def measure(
    predictor: ClassifierPredictor, thread: TorchThread, texts: list[str], window_s: float
) -> tuple[float, float]:
    """(p50 seconds of a one-text predict, texts/s in batches of ``BATCH``)."""
    for _ in range(3):  # warm-up: kernels chosen, caches filled
        await thread.run(predictor.predict, texts[:BATCH])
    single: list[float] = []
    deadline = time.perf_counter() + window_s
    while time.perf_counter() < deadline or len(single) < 5:
        started = time.perf_counter()
        await thread.run(predictor.predict, texts[len(single) % len(texts) : len(single) % len(texts) + 1])
        single.append(time.perf_counter() - started)
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < window_s or done < 2 * BATCH:
        offset = done % (len(texts) - BATCH)
        await thread.run(predictor.predict, texts[offset : offset + BATCH])
        done += BATCH
    return percentile(single, 0.5), done / (time.perf_counter() - started)


def run(setup: Setup) -> str:
    size = models.TINY_BERT if setup.tiny else models.MINILM_L6
    texts = models.texts(size, 512, 8 if setup.tiny else WORDS, seed=3)
    figures = {}
    with tempfile.TemporaryDirectory(prefix="gpu-serving-") as directory:
        work = Path(directory)
        base_dir = models.text_encoder(size, work / "base")
        save_model(base_dir, work / "model")
        for device in dict.fromkeys([setup.device.type, "cpu"]):
            thread = TorchThread(CPU_THREADS)
            predictor = asyncio.run(thread_load(thread, work, base_dir, device))
            figures[device] = asyncio.run(measure(predictor, thread, texts, setup.seconds(4)))
    p50, rate = figures[setup.device.type]
    cpu_p50, cpu_rate = figures["cpu"]
    return (
        f"{size.name} last-layer predictor on {setup.device.type}: one text p50 {p50 * 1000:.1f} ms "
        f"(cpu x{CPU_THREADS} threads {cpu_p50 * 1000:.1f} ms, {cpu_p50 / p50:.1f}x), "
        f"batches of {BATCH}: {number(rate)} texts/s "
        f"(cpu {number(cpu_rate)}, {rate / cpu_rate:.1f}x); {WORDS if not setup.tiny else 8} words a text"
    )


async def thread_load(thread: TorchThread, work: Path, base_dir: Path, device: str) -> ClassifierPredictor:
    return await thread.run(ClassifierPredictor.load, work / "model", base_dir, device)
