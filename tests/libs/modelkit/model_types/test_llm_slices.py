"""A generation in slices (``Generation.advance`` with ``pause``), as a replica shared by several requests runs
it: the reply is the one an unbroken generation gives, greedy or seeded, streamed pieces included."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelkit.model_types.llm import load_model, load_tokenizer
from modelkit.model_types.llm.generation import Generation, GenerationParams, Piece, generate
from tests.support.tiny_models import build_tiny_llama


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("llama") / "model")


def every(count: int) -> object:
    """A pause that turns true every ``count`` tokens of a slice."""

    calls = 0

    def pause() -> bool:
        nonlocal calls
        calls += 1
        return calls % count == 0

    return pause


@pytest.mark.parametrize(
    "params",
    [
        GenerationParams(max_new_tokens=40),
        GenerationParams(max_new_tokens=40, temperature=2.0, seed=7),
        GenerationParams(max_new_tokens=40, temperature=1.5, top_p=0.9, seed=11, stop=("good",)),
    ],
    ids=["greedy", "seeded", "stop string"],
)
def test_a_reply_in_slices_is_the_unbroken_reply(tiny: Path, params: GenerationParams) -> None:
    model, tokenizer = load_model(tiny), load_tokenizer(tiny)
    model.train(False)
    messages = [{"role": "user", "content": "is it good"}]
    unbroken_pieces: list[Piece] = []
    unbroken = generate(model, tokenizer, messages, params, unbroken_pieces.append)
    pieces: list[Piece] = []
    sliced = Generation(model, tokenizer, messages, params, pieces.append)
    pause = every(3)
    while not sliced.advance(model, pause):  # type: ignore[arg-type]
        pass
    assert sliced.result() == unbroken
    assert "".join(piece.text for piece in pieces) == unbroken.text == "".join(p.text for p in unbroken_pieces)
    if unbroken.completion_tokens > 6:
        assert sliced.slices > 1
