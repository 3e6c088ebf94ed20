"""A generation's limits: one whose prompt and reply cannot fit in the model's context is refused before any
forward pass, by name, with the figures (the error survives pickling: a replica raises it in another
process); one whose caller went away, or whose time ran out, stops where it is."""

from __future__ import annotations

import pickle
import time
from pathlib import Path

import pytest

from modelkit.errors import PromptTooLong
from modelkit.model_types.llm import load_model, load_tokenizer
from modelkit.model_types.llm.generation import GenerationParams, Piece, context_length, generate
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
    # A length the caller did not choose (a default) is cut to what the context leaves, not refused.
    fitted = generate(model, tokenizer, near, GenerationParams(max_new_tokens=100, fit_to_context=True))
    assert fitted.prompt_tokens + fitted.completion_tokens <= 256
    again = pickle.loads(pickle.dumps(refused.value))
    assert isinstance(again, PromptTooLong) and str(again) == str(refused.value)


def test_a_generation_stops_when_its_caller_goes_away_or_its_time_runs_out(tiny: Path) -> None:
    """The finding: a shared playground app went on generating for a caller that had dropped its stream (or
    whose 30 s had passed), and the next caller, of any org, waited behind it."""
    model, tokenizer = load_model(tiny), load_tokenizer(tiny)
    prompt = [{"role": "user", "content": "is it good"}]
    pieces: list[Piece] = []
    gone = False

    def on_text(piece: Piece) -> None:
        nonlocal gone
        pieces.append(piece)
        gone = True  # the reader leaves after the first piece

    params = GenerationParams(max_new_tokens=60)
    cut = generate(model, tokenizer, prompt, params, on_text, cancelled=lambda: gone)
    whole = generate(model, tokenizer, prompt, params)
    assert whole.completion_tokens > 5  # left alone, it goes on
    assert cut.completion_tokens < whole.completion_tokens and cut.completion_tokens <= 3
    # The piece says what the reply had cost when it was sent: what a stream cut there is metered.
    assert pieces[0].prompt_tokens == cut.prompt_tokens and 1 <= pieces[0].completion_tokens <= cut.completion_tokens
    late = generate(model, tokenizer, prompt, GenerationParams(max_new_tokens=60, deadline=time.monotonic() - 1))
    assert late.completion_tokens == 1 and late.finish_reason == "length"


def test_a_pooled_request_whose_caller_left_is_never_generated(tiny: Path, tmp_path: Path) -> None:
    from modelkit.model_types.llm.adapters import AdapterPool, GenerationCancelled

    pool = AdapterPool(tiny, max_adapters=1)
    with pytest.raises(GenerationCancelled):
        pool.generate("m", tmp_path, {"prompt": "hi"}, cancelled=lambda: True)
    assert pool.loaded == {}  # not even loaded
