"""The training option ``precision``: what ``auto`` resolves to, bf16 autocast that really runs and agrees with
fp32 over the first steps, fp16 with loss scaling whose state a checkpoint carries (torch's CPU autocast runs
both here; a GPU runs them in bench/gpu.sh)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from pydantic import ValidationError

from automl_proto.models import TrainingOptions
from modelkit.training.loop import TrainingInterrupted, autocast, resolve_precision
from modelkit.training.trainer import fit
from tests.support.loop import Hooks, data, model
from tests.support.tiny_models import build_tiny_bert

STEPS = TrainingOptions(max_epochs=1, batch_size=8, learning_rate=1e-3, seed=3, eval_strategy="steps", eval_steps=1)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("tiny") / "base")


def test_auto_is_fp32_on_the_cpu_and_a_named_precision_is_kept() -> None:
    cpu = torch.device("cpu")
    assert resolve_precision("auto", cpu) == "fp32"
    assert resolve_precision("bf16", cpu) == "bf16"
    assert resolve_precision("fp16", cpu) == "fp16"
    with autocast(cpu, "bf16"):
        assert torch.nn.Linear(4, 4)(torch.ones(1, 4)).dtype == torch.bfloat16
    with autocast(cpu):
        assert torch.nn.Linear(4, 4)(torch.ones(1, 4)).dtype == torch.float32
    with pytest.raises(ValidationError, match="precision"):
        TrainingOptions(precision="int8")


def step_losses(base: Path, precision: str, steps: int = 6) -> tuple[list[float], torch.nn.Module]:
    trained = model(base)
    options = STEPS.model_copy(update={"precision": precision})
    result = fit(trained, "full", options, data(base, 8 * steps), data(base, 8), Hooks())
    return [record["train_loss"] for record in result.history], trained


def test_bf16_runs_in_bf16_and_its_first_steps_agree_with_fp32(base: Path) -> None:
    fp32, fp32_model = step_losses(base, "fp32")
    bf16, bf16_model = step_losses(base, "bf16")
    assert len(fp32) == len(bf16) == 6
    for step, (exact, mixed) in enumerate(zip(fp32, bf16, strict=True)):
        assert mixed == pytest.approx(exact, rel=0.03), f"step {step + 1}: bf16 {mixed} against fp32 {exact}"
    # The same weights, data and seed: only the number format differs, and it did take effect.
    differences = [
        float((a - b).detach().abs().max())
        for a, b in zip(fp32_model.parameters(), bf16_model.parameters(), strict=True)
        if a.requires_grad
    ]
    assert max(differences) > 0
    assert bf16 != fp32


def test_fp16_scales_the_loss_and_a_checkpoint_resumes_its_scale(base: Path) -> None:
    options = TrainingOptions(max_epochs=2, batch_size=8, learning_rate=1e-3, seed=3, precision="fp16")
    train, validation = data(base), data(base, 16)
    whole_hooks = Hooks()
    whole = model(base)
    result = fit(whole, "full", options, train, validation, whole_hooks)
    assert all(torch.isfinite(torch.tensor(record["train_loss"])) for record in result.history)
    scaler = whole_hooks.checkpoints[-1]["scaler"]
    assert scaler["scale"] > 1  # the loss was scaled up before backward

    fp32_hooks = Hooks()
    fit(model(base), "full", options.model_copy(update={"precision": "fp32"}), train, validation, fp32_hooks)
    assert fp32_hooks.checkpoints[-1]["scaler"] == {}  # no scaling outside fp16

    first = Hooks(interrupt_after=16)
    with pytest.raises(TrainingInterrupted):
        fit(model(base), "full", options, train, validation, first)
    resumed = model(base)
    fit(resumed, "full", options, train, validation, Hooks(), resume=first.checkpoints[-1])
    for (name, expected), (_, got) in zip(whole.named_parameters(), resumed.named_parameters(), strict=True):
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-6, msg=name)
