"""Every benchmark of `make bench` runs to its end, in a quick run of its own (small sizes, short phases): a
benchmark nobody runs rots (bench/gateway_overhead had died on a 429 for weeks). What the figures of these
runs are is not checked (they are too small to mean anything); that each ran and printed its comparison is.
The full runs are `make bench`."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

SCALE_GATEWAY_AND_RETRAIN = [
    "--modes",
    "on",
    "--gateway-rows",
    "200",
    "--gateway-requests",
    "10",
    "--retrain-rows",
    "200",
]

# (module, quick arguments, a word its last figures print)
QUICK = [
    ("bench.metrics", ["--rows", "3000"], "faster"),
    ("bench.dataset_ingest", ["--rows", "3000", "--images", "5"], "ratio"),
    ("bench.snapshot_build", ["--rows", "3000"], "ratio"),
    (
        "bench.train_text",
        ["--rows", "200", "--epochs-last-layer", "2", "--epochs-lora", "1", "--epochs-full", "1", "--plain-steps", "3"],
        "ratio",
    ),
    ("bench.train_distributed", ["--rows", "64"], "ratio"),
    (
        "bench.train_image",
        [
            "--synthetic",
            "--train",
            "60",
            "--test",
            "20",
            "--image-size",
            "32",
            "--epochs-last-layer",
            "2",
            "--epochs-full",
            "1",
        ],
        "ratio",
    ),
    (
        "bench.train_detection",
        [
            "--synthetic",
            "--train",
            "24",
            "--test",
            "8",
            "--canvas",
            "64",
            "--min-side",
            "16",
            "--max-side",
            "28",
            "--epochs-last-layer",
            "1",
            "--epochs-full",
            "1",
        ],
        "ratio",
    ),
    (
        "bench.train_segmentation",
        [
            "--synthetic",
            "--train",
            "24",
            "--test",
            "8",
            "--canvas",
            "64",
            "--min-side",
            "16",
            "--max-side",
            "28",
            "--epochs-last-layer",
            "1",
            "--epochs-full",
            "1",
        ],
        "ratio",
    ),
    ("bench.llm", ["--pairs", "8", "--adapters", "2"], "ratio"),
    ("bench.inference", ["--rows", "300", "--requests", "20", "--seconds", "1"], "ratio"),
    (
        "bench.serving_scale",
        ["--models", "20", "--first-calls", "3", "--requests", "64", *SCALE_GATEWAY_AND_RETRAIN],
        "retraining / first training",
    ),
    ("bench.lora_sharing", ["--models", "2", "--requests", "8", "--batch", "4"], "ratio"),
    ("bench.console", ["--rows", "3000"], "ratio"),
    ("bench.neighbours", ["--seconds", "2"], "ratio"),
]


@pytest.mark.parametrize(("module", "arguments", "figure"), QUICK, ids=[module for module, _, _ in QUICK])
def test_the_benchmark_runs_to_its_end(module: str, arguments: list[str], figure: str) -> None:
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-m", module, *arguments], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, (
        f"{module} failed after {time.monotonic() - started:.0f} s:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    )
    assert figure in run.stdout, run.stdout[-3000:]


def test_every_benchmark_of_make_bench_has_a_quick_run() -> None:
    makefile = (ROOT / "Makefile").read_text()
    benched = {line.split("-m ", 1)[1].strip() for line in makefile.splitlines() if "$(PY) -m bench." in line}
    assert benched - {"bench.gateway_overhead"} == {module for module, _, _ in QUICK}
