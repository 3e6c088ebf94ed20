"""A generation whose prompt and reply cannot fit in the model's context is refused before any forward pass,
by name, with the figures; the error survives pickling (a replica raises it in another process)."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from modelkit.errors import PromptTooLong
from modelkit.tasks.llm import load_model, load_tokenizer
from modelkit.tasks.llm.generation import GenerationParams, context_length, generate
from tests.support.tiny_models import build_tiny_llama


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("llama") / "model")


def test_a_prompt_past_the_context_is_refused_with_its_figures(tiny: Path) -> None:
    model, tokenizer = load_model(tiny), load_tokenizer(tiny)
    assert context_length(model) == 256
    long = [{"role": "user", "content": " ".join(["good"] * 300)}]
    with pytest.raises(PromptTooLong) as refused:
        generate(model, tokenizer, long, GenerationParams(max_new_tokens=4))
    assert refused.value.context == 256 and refused.value.prompt_tokens > 300
    assert "context of 256 tokens" in str(refused.value)
    near = [{"role": "user", "content": " ".join(["good"] * 200)}]
    with pytest.raises(PromptTooLong):
        generate(model, tokenizer, near, GenerationParams(max_new_tokens=100))
    assert generate(model, tokenizer, near, GenerationParams(max_new_tokens=4)).completion_tokens <= 4
    again = pickle.loads(pickle.dumps(refused.value))
    assert isinstance(again, PromptTooLong) and str(again) == str(refused.value)
