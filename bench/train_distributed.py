"""What the distributed path costs: MiniLM-L6 full fine-tuning on the SMS spam collection, one process with
2 torch threads against 2 processes (torchrun, gloo, through the worker's own launcher) with 1 thread
each, the same global batches, on this machine's CPU. The figure is the training throughput (examples per
second over the training steps, as the worker reports it). Target: ratio >= 0.8.

Both runs go through modelkit's ``fit`` and the launcher trainer-svc's workers use (loopback stores,
``--max-restarts 0``); the data is tokenised once, before either run.
Run: `python -m bench.train_distributed [--rows 1024] [--max-length 64] [--batch 32]` (about 3 min).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from automl_proto.models import TrainingOptions
from bench.train_text import Hooks, minilm_dir, new_model
from deploy.local.sms_spam import rows as sms_rows
from modelkit.losses import HeadTargets
from modelkit.model_types.text_classification import load_tokenizer
from modelkit.model_types.text_classification.tokens import TokenizedTexts, tokenize
from modelkit.training.data import Examples, validation_split
from modelkit.training.distributed import init_from_environment, leave
from modelkit.training.trainer import fit
from trainer_svc.worker.launch import Topology, launch

SEED = 1


def prepare(work: Path, count: int, max_length: int) -> None:
    model_dir = minilm_dir(work)
    data = sms_rows()[:count]
    labels = np.array([1 if label == "spam" else 0 for label, _ in data], dtype=np.int64)
    tokenize(load_tokenizer(model_dir), [text for _, text in data], max_length).save(work / "tokens.npz")
    np.save(work / "labels.npy", labels)


def worker(work: Path, threads: int, batch: int, label: str) -> None:
    """One rank (or the only process): train one epoch, rank 0 writes the figures."""
    torch.set_num_threads(threads)
    world = init_from_environment()
    (work / f"rank-{world.rank}").mkdir(exist_ok=True)
    try:
        labels = np.load(work / "labels.npy")
        data = Examples(TokenizedTexts.load(work / "tokens.npz"), [HeadTargets(labels, False)])
        train, validation = validation_split(data.targets, 5, SEED)
        options = TrainingOptions(max_epochs=1, learning_rate=5e-5, batch_size=batch, seed=SEED, validation_pct=5)
        started = time.perf_counter()
        result = fit(
            new_model(work / "minilm", "full"),
            "full",
            options,
            data.subset(train),
            data.subset(validation),
            Hooks(work / f"rank-{world.rank}"),
        )
        if world.leader:
            figures = {
                "examples_per_s": result.examples_per_s,
                "seconds": time.perf_counter() - started,
                "val_loss": result.history[-1].get("val_loss"),
                "world_size": world.size,
            }
            (work / f"result-{label}.json").write_text(json.dumps(figures))
    finally:
        leave()


def run(work: Path, label: str, processes: int, threads: int, batch: int) -> dict[str, float]:
    args = ["--worker", str(work), "--threads", str(threads), "--batch", str(batch), "--label", label]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    if processes == 1:
        subprocess.run([sys.executable, "-m", "bench.train_distributed", *args], check=True, env=env)
    else:
        code = subprocess.run(
            [sys.executable, "-m", "bench.train_distributed", "--launch", str(processes), *args], check=False, env=env
        ).returncode
        assert code == 0, f"the distributed run failed with {code}"
    figures: dict[str, float] = json.loads((work / f"result-{label}.json").read_text())
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1024)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--worker", type=Path)
    parser.add_argument("--launch", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--label", default="run")
    args = parser.parse_args()
    if args.launch:
        forwarded = ["--worker", str(args.worker), "--threads", str(args.threads), "--batch", str(args.batch)]
        forwarded += ["--label", args.label]
        topology = Topology(args.launch, 1, 0, None)
        sys.exit(launch(forwarded, topology, f"bench-{args.label}", module="bench.train_distributed"))
    if args.worker is not None:
        worker(args.worker, args.threads, args.batch, args.label)
        return
    with tempfile.TemporaryDirectory(prefix="bench-distributed-") as directory:
        work = Path(directory)
        prepare(work, args.rows, args.max_length)
        print(
            f"SMS spam: {args.rows} rows (5% validation), MiniLM-L6 full fine-tune, max length {args.max_length}, "
            f"global batch {args.batch}, one epoch; {os.cpu_count()} CPU cores"
        )
        one = run(work, "one", 1, 2, args.batch)
        two = run(work, "two", 2, 1, args.batch)
    ratio = two["examples_per_s"] / one["examples_per_s"]
    print(f"1 process x 2 threads:  {one['examples_per_s']:.1f} examples/s (val loss {one['val_loss']:.4f})")
    print(f"2 processes x 1 thread: {two['examples_per_s']:.1f} examples/s (val loss {two['val_loss']:.4f})")
    print(f"ratio {ratio:.2f} (target >= 0.8)")


if __name__ == "__main__":
    main()
