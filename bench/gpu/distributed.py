"""torch.distributed on the one GPU: MiniLM-L6-sized full fine-tuning by 2 processes, started by the worker's
own launcher (``trainer_svc.worker.launch``: torchrun's agent, loopback stores) and joined as the worker joins
(``init_from_environment``), against 1 process; the same global batches. NCCL first; NCCL refuses two ranks
on one GPU ("Duplicate GPU detected"), so then gloo, which reduces GPU tensors through the host. The figure is
the step time (global batch over examples/s of the training steps).

Run by the part as subprocesses of this module: ``--launch N`` (the launcher) and ``--rank`` (one rank, or the
only process)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from bench.gpu import models
from bench.gpu.common import Setup

MODULE = "bench.gpu.distributed"
STEPS = 48


def prepare(setup: Setup, work: Path) -> tuple[int, int]:
    """The base model and tokenised data every run reads; returns (batch, max length)."""
    from automl_proto.models import TrainingOptions
    from modelkit import model_types

    size = models.TINY_BERT if setup.tiny else models.MINILM_L6
    batch, length = (8, 16) if setup.tiny else (32, 128)
    steps = 6 if setup.tiny else STEPS
    base_dir = models.text_encoder(size, work / "base")
    preprocessor = model_types.classifier("text_classification").preprocessor(
        base_dir, TrainingOptions(max_length=length)
    )
    preprocessor.encode(models.texts(size, batch * steps, length)).save(work / "tokens.npz")
    np.save(work / "labels.npy", np.random.default_rng(4).integers(0, 4, batch * steps))
    return batch, length


def rank(work: Path, device: str, backend: str, batch: int, label: str) -> None:
    """One rank (or the only process): one epoch; rank 0 writes the figures."""
    from automl_proto.models import TrainingOptions
    from bench.gpu.text import build
    from modelkit.losses import HeadTargets
    from modelkit.model_types.text_classification.tokens import TokenizedTexts
    from modelkit.training.data import Examples
    from modelkit.training.distributed import init_from_environment, leave
    from modelkit.training.loop import NoHooks
    from modelkit.training.trainer import fit

    world = init_from_environment(device, backend)  # type: ignore[arg-type]
    try:
        data = Examples(TokenizedTexts.load(work / "tokens.npz"), [HeadTargets(np.load(work / "labels.npy"), False)])
        validation = data.subset(np.arange(batch))
        options = TrainingOptions(max_epochs=1, batch_size=batch, learning_rate=5e-5, seed=0)
        # A first short run takes the one-off costs (CUDA context, kernels chosen, the process group's first
        # collectives) out of the measured one.
        fit(
            build(work / "base", world.device()),
            "full",
            options,
            data.subset(np.arange(2 * batch)),
            validation,
            NoHooks(),
        )
        result = fit(build(work / "base", world.device()), "full", options, data, validation, NoHooks())
        if world.leader:
            import torch.distributed as dist

            figures = {
                "step_ms": 1000 * batch / (result.examples_per_s or float("nan")),
                "world_size": world.size,
                "backend": dist.get_backend() if world.distributed else "none",
            }
            (work / f"result-{label}.json").write_text(json.dumps(figures))
    finally:
        leave()


def attempt(work: Path, label: str, processes: int, arguments: list[str], timeout_s: float) -> dict[str, object]:
    """One run in subprocesses: its figures, or ``{"error": why}``."""
    command = [sys.executable, "-m", MODULE, "--work", str(work), "--label", label, *arguments]
    command += ["--launch", str(processes)] if processes > 1 else ["--rank"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, env=dict(os.environ))
    except subprocess.TimeoutExpired:
        return {"error": f"no result in {timeout_s:.0f} s"}
    result = work / f"result-{label}.json"
    if done.returncode == 0 and result.is_file():
        figures: dict[str, object] = json.loads(result.read_text())
        return figures
    lines = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()]
    reason = next((line for line in reversed(lines) if "Error" in line or "error" in line), lines[-1] if lines else "")
    return {"error": f"exit {done.returncode}: {reason.strip()[:300]}"}


def run(setup: Setup) -> str:
    device = setup.device.type
    limit = 60.0 if setup.tiny else 40.0  # the self-check shares 2 slow cores with the suite
    with tempfile.TemporaryDirectory(prefix="gpu-distributed-") as directory:
        work = Path(directory)
        batch, length = prepare(setup, work)
        common = ["--device", device, "--batch", str(batch)]
        one = attempt(work, "one", 1, [*common, "--backend", "auto"], limit)
        if "error" in one:
            raise RuntimeError(f"1 process: {one['error']}")
        tried: list[str] = []
        two: dict[str, object] = {}
        for backend in ("nccl", "gloo") if setup.cuda else ("gloo",):
            two = attempt(work, f"two-{backend}", 2, [*common, "--backend", backend], limit)
            if "error" not in two:
                break
            tried.append(f"{backend} failed ({two['error']})")
        if "error" in two:
            raise RuntimeError("2 processes: " + "; ".join(tried))
    one_ms, two_ms = float(str(one["step_ms"])), float(str(two["step_ms"]))
    return (
        f"full fine-tune, global batch {batch} x {length} tokens on one {device}: 1 process {one_ms:.1f} ms/step, "
        f"2 processes ({two['backend']}) {two_ms:.1f} ms/step ({two_ms / one_ms:.2f}x)"
        + (f"; {'; '.join(tried)}" if tried else "")
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--label", required=True)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--launch", type=int, default=0)
    parser.add_argument("--rank", action="store_true")
    args = parser.parse_args()
    if args.launch:
        from trainer_svc.worker.launch import Topology, launch

        forwarded = ["--work", str(args.work), "--label", args.label, "--device", args.device]
        forwarded += ["--backend", args.backend, "--batch", str(args.batch), "--rank"]
        sys.exit(launch(forwarded, Topology(args.launch, 1, 0, None), f"gpu-bench-{args.label}", module=MODULE))
    rank(args.work, args.device, args.backend, args.batch, args.label)


if __name__ == "__main__":
    main()
