"""The GPU check (bench/gpu.sh) on this CPU machine, so that it cannot rot before a GPU is lent: without CUDA
it says so and exits 0; ``--cpu --tiny`` runs every part through the platform's code; and a part that breaks
or hangs fails alone, saying why, while the others still run. Parts are broken from outside the script: a
``sitecustomize`` module (imported by every Python the check starts) replaces a platform function with one
that raises, or sleeps past the part's time limit."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import torch

from bench.gpu.part import PARTS

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "gpu.sh"
# What each part's line must report.
FIGURES = {
    "text_full": ["ex/s", "fp32's", "max rel diff", "tiny-bert", "tiny-mpnet"],
    "llm_lora": ["tokens/s", "greedy generation", "20 adapters on one pool", "cold", "warm"],
    "image_full": ["images/s", "fp32's"],
    "distributed": ["1 process", "2 processes (gloo)", "ms/step"],
    "serving": ["one text p50", "texts/s"],
}
SABOTAGE = """
import os, time

def _broken(*args, **kwargs):
    raise RuntimeError("broken on purpose")

def _hung(*args, **kwargs):
    time.sleep(3600)

import importlib
for variable, replacement in (("GPU_CHECK_BREAK", _broken), ("GPU_CHECK_HANG", _hung)):
    for target in filter(None, os.environ.get(variable, "").split(",")):
        module_name, _, attribute = target.partition(":")
        owner_name, _, member = attribute.rpartition(".")
        owner = importlib.import_module(module_name)
        if owner_name:
            owner = getattr(owner, owner_name)
        setattr(owner, member, replacement)
"""


def gpu_check(*args: str, env: dict[str, str] | None = None, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
    )


def sabotaged(tmp_path: Path, **targets: str) -> dict[str, str]:
    (tmp_path / "sitecustomize.py").write_text(SABOTAGE)
    return {"PYTHONPATH": str(tmp_path), **targets}


def lines_of(output: str) -> dict[str, str]:
    """Each part's line, by part."""
    found = {}
    for line in output.splitlines():
        words = line.split()
        if len(words) > 1 and line.startswith("[") and words[1] in PARTS:
            found[words[1]] = line
    return found


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_without_cuda_it_says_so_and_exits_0() -> None:
    done = gpu_check()
    assert done.returncode == 0, done.stderr
    assert "no CUDA device here" in done.stdout
    assert "a build without CUDA" in done.stdout or "CUDA " in done.stdout


@pytest.mark.slow
def test_the_self_check_runs_every_part_through_the_platforms_code(tmp_path: Path) -> None:
    outcomes = tmp_path / "outcomes.json"
    done = gpu_check("--cpu", "--tiny", "--json", str(outcomes))
    assert done.returncode == 0, done.stdout + done.stderr
    lines = lines_of(done.stdout)
    assert sorted(lines) == sorted(PARTS)
    for part, line in lines.items():
        assert line.startswith("[ok]"), line
        for figure in FIGURES[part]:
            assert figure in line, (figure, line)
    assert done.stdout.splitlines()[-1].startswith("gpu check: 5 parts ran, 5 ok, 0 failed")
    assert [outcome["ok"] for outcome in json.loads(outcomes.read_text())] == [True] * 5


@pytest.mark.slow
def test_a_broken_part_fails_loudly_and_the_others_still_run(tmp_path: Path) -> None:
    # The shared-base adapter pool: only the llm part uses it.
    env = sabotaged(tmp_path, GPU_CHECK_BREAK="modelkit.model_types.llm.adapters:AdapterPool.generate")
    done = gpu_check("--cpu", "--tiny", "--parts", "llm_lora,image_full", env=env)
    assert done.returncode == 1
    lines = lines_of(done.stdout)
    assert lines["llm_lora"].startswith("[FAILED]")
    assert "RuntimeError: broken on purpose" in lines["llm_lora"]
    assert "| Traceback" in done.stdout  # the part's own traceback follows its line
    assert lines["image_full"].startswith("[ok]")
    assert done.stdout.splitlines()[-1].startswith("gpu check: 2 parts ran, 1 ok, 1 failed (llm_lora)")


@pytest.mark.slow
def test_every_part_fails_loudly_when_its_code_breaks_and_a_hung_part_is_stopped(tmp_path: Path) -> None:
    env = sabotaged(
        tmp_path,
        GPU_CHECK_BREAK=",".join(
            [
                "modelkit.training.trainer:fit",  # text, image, and the distributed ranks
                "modelkit.model_types.llm.training:CausalLMObjective.loss",
            ]
        ),
        GPU_CHECK_HANG="modelkit.predict:ClassifierPredictor.predict",  # serving
    )
    done = gpu_check("--cpu", "--tiny", "--time-limit", "30", env=env)
    assert done.returncode == 1
    lines = lines_of(done.stdout)
    assert sorted(lines) == sorted(PARTS)
    for part in ("text_full", "llm_lora", "image_full", "distributed"):
        assert lines[part].startswith("[FAILED]"), lines[part]
        assert "broken on purpose" in lines[part], lines[part]
    assert lines["serving"].startswith("[FAILED]")
    assert "timed out after 30 s" in lines["serving"]
    assert done.stdout.splitlines()[-1].startswith("gpu check: 5 parts ran, 0 ok, 5 failed")
