"""The GPU check: the platform's training and inference code on CUDA, measured (``bench/gpu.sh``, ``make
bench-gpu``). Each part runs in a process of its own under a time limit (a hung NCCL, a CUDA error that
poisons its context, a part that runs long: it fails alone, said in full, and the next part still runs):

- ``text_full``: full fine-tune at MiniLM-L6 and MPNet-base sizes, bf16 against fp32 (loss and examples/s);
- ``llm_lora``: LoRA on a SmolLM2-135M-sized causal LM (tokens/s, memory), greedy generation, 20 adapters on
  one pool (first token cold and warm);
- ``image_full``: full fine-tune at MobileNetV2 size (images/s);
- ``distributed``: 2 processes on the one GPU (NCCL, else gloo) against 1;
- ``serving``: the classifier replica's predictor on CUDA against the CPU.

Each part prints one line of figures; the last line sums up. Exit 0 when every part ran, 1 when one failed.
Without CUDA it says so and exits 0; ``--cpu --tiny`` runs every part on the CPU with tiny models (the suite's
self-check, so the script cannot rot)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.gpu.part import MARK, PARTS

ROOT = Path(__file__).resolve().parents[2]
# Where the platform's packages are in a checkout (the GPU machine has the tree, not our virtualenv).
SOURCES = ("libs/modelkit", "libs/common", "proto", "services/trainer-svc", "services/inference-svc")
# Seconds per part on a GPU: together under 7 minutes, so the whole check ends within 8.
TIME_LIMITS = {"text_full": 100, "llm_lora": 100, "image_full": 50, "distributed": 120, "serving": 50}
TINY_TIME_LIMIT = 240  # the self-check shares two slow cores with the rest of the suite
LOG_LINES = 12


@dataclass
class Outcome:
    part: str
    ok: bool
    seconds: float
    figures: str
    log: list[str]


def environment() -> dict[str, str]:
    paths = [str(ROOT), *(str(ROOT / source) for source in SOURCES)]
    inherited = os.environ.get("PYTHONPATH")
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([*paths, *([inherited] if inherited else [])]),
        "PYTHONUNBUFFERED": "1",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }


def run_part(part: str, device: str, tiny: bool, limit_s: float) -> Outcome:
    command = [sys.executable, "-m", "bench.gpu.part", part, "--device", device, *(["--tiny"] if tiny else [])]
    started = time.perf_counter()
    # A session of its own: on time out the whole group goes (torchrun's ranks included).
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=limit_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        lines = output.splitlines()
        return Outcome(
            part, False, time.perf_counter() - started, f"timed out after {limit_s:.0f} s", lines[-LOG_LINES:]
        )
    seconds = time.perf_counter() - started
    lines = output.splitlines()
    figures = next((line[len(MARK) :] for line in reversed(lines) if line.startswith(MARK)), None)
    if process.returncode == 0 and figures is not None:
        return Outcome(part, True, seconds, figures, [])
    errors = [line for line in lines if line.strip() and not line.startswith(" ")]
    reason = errors[-1] if errors else f"exit code {process.returncode} and no output"
    return Outcome(part, False, seconds, reason, lines[-LOG_LINES:])


def describe(device: str) -> str:
    import peft
    import torch
    import transformers

    versions = f"torch {torch.__version__}, transformers {transformers.__version__}, peft {peft.__version__}"
    if device == "cpu":
        return f"on the CPU ({os.cpu_count()} cores), {versions}"
    properties = torch.cuda.get_device_properties(0)
    return (
        f"on {properties.name} (sm_{properties.major}{properties.minor}, {properties.total_memory / 1024**3:.0f} GiB, "
        f"bf16 {'yes' if torch.cuda.is_bf16_supported() else 'no'}), CUDA {torch.version.cuda}, {versions}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/gpu.sh", description=__doc__.split("\n\n")[0])
    parser.add_argument("--cpu", action="store_true", help="run on the CPU (the self-check)")
    parser.add_argument("--tiny", action="store_true", help="tiny models and short runs")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"a comma-separated subset of {', '.join(PARTS)}")
    parser.add_argument("--time-limit", type=float, help="seconds each part may take (default: each part's own)")
    parser.add_argument("--json", type=Path, help="also write the outcomes here")
    args = parser.parse_args(argv)
    parts = [part for part in args.parts.split(",") if part]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        parser.error(f"no such part: {', '.join(unknown)} (parts: {', '.join(PARTS)})")
    import torch

    if not args.cpu and not torch.cuda.is_available():
        cuda = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a build without CUDA"
        print(f"gpu check: no CUDA device here (torch {torch.__version__}, {cuda}): nothing to measure.")
        print("Run it where a GPU is lent (bench/gpu.sh), or bench/gpu.sh --cpu --tiny for the self-check.")
        return 0
    device = "cpu" if args.cpu else "cuda"
    print(f"gpu check: {len(parts)} parts {describe(device)}; {'tiny' if args.tiny else 'real'} sizes", flush=True)
    outcomes = []
    started = time.perf_counter()
    for part in parts:
        limit = args.time_limit or (TINY_TIME_LIMIT if args.tiny else TIME_LIMITS[part])
        outcome = run_part(part, device, args.tiny, limit)
        outcomes.append(outcome)
        status = "[ok]    " if outcome.ok else "[FAILED]"
        print(f"{status} {part:<12} {outcome.seconds:6.1f} s  {outcome.figures}", flush=True)
        for line in outcome.log:
            print(f"           | {line}", flush=True)
    failed = [outcome.part for outcome in outcomes if not outcome.ok]
    print(
        f"gpu check: {len(outcomes)} parts ran, {len(outcomes) - len(failed)} ok, {len(failed)} failed"
        + (f" ({', '.join(failed)})" if failed else "")
        + f", {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    if args.json is not None:
        args.json.write_text(json.dumps([asdict(outcome) for outcome in outcomes], indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
