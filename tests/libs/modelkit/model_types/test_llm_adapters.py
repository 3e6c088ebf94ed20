"""Many LoRA models on one base (modelkit.model_types.llm.adapters): under concurrent requests for three adapters
with room for two, each reply is the one its model gives loaded alone, the pool never holds more than its
bound, waiting requests are grouped by adapter, and models it cannot share a base with are refused."""

from __future__ import annotations

import itertools
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import torch

from automl_proto.models import LoraOptions, TrainingOptions
from modelkit import model_types
from modelkit.model_types.llm import ArtifactMismatch, LLMManifest, load_model, load_tokenizer
from modelkit.model_types.llm.adapters import AdapterPool
from modelkit.model_types.llm.chat import Fingerprint, encode, messages_of
from modelkit.model_types.llm.generation import GenerationParams, Piece, generate
from modelkit.model_types.llm.training import CausalLMObjective
from modelkit.training.loop import train
from tests.libs.modelkit.model_types.test_llm_training import Hooks
from tests.support.tiny_models import NEGATIVE, POSITIVE, build_tiny_llama

LLM = model_types.llm_task("llm")
# Three models: they answer the same questions differently.
ANSWERS = {"plain": ("yes", "no"), "reversed": ("no", "yes"), "unsure": ("maybe", "maybe no")}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("llama") / "model")


def train_model(tiny: Path, target: Path, answers: tuple[str, str], method: str = "lora") -> Path:
    tokenizer = load_tokenizer(tiny)
    rng = random.Random(4)
    pairs = []
    for _ in range(96):
        word = rng.choice(POSITIVE + NEGATIVE)
        pairs.append((f"is it {word}", answers[0] if word in POSITIVE else answers[1]))
    examples = [encode(tokenizer, messages_of(prompt, completion, None)) for prompt, completion in pairs]
    options = TrainingOptions(max_length=32, seed=1, learning_rate=2e-2, max_epochs=5).resolved(
        method, LLM.info.method_defaults[method]
    )
    torch.manual_seed(1)
    model = LLM.apply_method(load_model(tiny), method, LoraOptions(dropout=0.0))
    train(CausalLMObjective(model, options, examples, examples[:8], tokenizer.pad_token_id), options, Hooks())
    manifest = LLMManifest(method, "bm_tiny", "0" * 64, Fingerprint.of(tokenizer).__dict__, 32)
    LLM.save(model, tokenizer, manifest, target)
    return target


@pytest.fixture(scope="module")
def adapters(tiny: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("adapters")
    return {name: train_model(tiny, root / name, answers) for name, answers in ANSWERS.items()}


def alone(directory: Path, tiny: Path, prompt: str) -> str:
    model, tokenizer, _ = LLM.load(directory, tiny)
    return generate(model, tokenizer, [{"role": "user", "content": prompt}], GenerationParams(max_new_tokens=4)).text


def test_concurrent_requests_for_more_adapters_than_fit_get_each_models_reply(
    tiny: Path, adapters: dict[str, Path]
) -> None:
    prompts = ["is it good", "is it awful"]
    expected = {(name, prompt): alone(path, tiny, prompt) for name, path in adapters.items() for prompt in prompts}
    assert expected[("plain", "is it good")] == "yes" and expected[("reversed", "is it good")] == "no"
    assert expected[("unsure", "is it good")] == "maybe"
    pool = AdapterPool(tiny, max_adapters=2)
    calls: list[tuple[str, str]] = [(name, prompt) for name in adapters for prompt in prompts] * 4
    random.Random(0).shuffle(calls)

    def ask(call: tuple[str, str]) -> str:
        name, prompt = call
        reply: dict[str, Any] = pool.generate(name, adapters[name], {"prompt": prompt, "max_new_tokens": 4})
        assert len(pool.loaded) <= 2
        return str(reply["text"])

    with ThreadPoolExecutor(max_workers=8) as threads:
        replies = list(threads.map(ask, calls))
    assert replies == [expected[call] for call in calls]
    assert len(pool.loaded) == 2

    # Requests that arrive while the model is busy wait, and are served grouped by adapter: one switch per
    # adapter, where serving them in arrival order would switch at nearly every request.
    pool.switches = 0
    with ThreadPoolExecutor(max_workers=len(calls)) as threads, pool._serving:  # the model busy meanwhile
        answers = [threads.submit(ask, call) for call in calls]
        while len(pool._waiting) < len(calls):
            time.sleep(0.01)
    assert [answer.result() for answer in answers] == [expected[call] for call in calls]
    arrival_switches = sum(1 for before, after in itertools.pairwise(calls) if before[0] != after[0])
    assert pool.switches == 3 < arrival_switches, (pool.switches, arrival_switches)


def test_a_streamed_reply_comes_in_pieces_that_add_up(tiny: Path, adapters: dict[str, Path]) -> None:
    pool = AdapterPool(tiny, max_adapters=1)
    pieces: list[Piece] = []
    reply = pool.generate("unsure", adapters["unsure"], {"prompt": "is it sad", "max_new_tokens": 4}, pieces.append)
    assert "".join(piece.text for piece in pieces) == reply["text"] == "maybe no"
    assert [piece.prompt_tokens for piece in pieces] == [reply["usage"]["prompt_tokens"]] * len(pieces)
    assert pieces[-1].completion_tokens <= reply["usage"]["completion_tokens"]


def test_models_that_cannot_share_the_base_are_refused(tiny: Path, tmp_path: Path) -> None:
    full = train_model(tiny, tmp_path / "full", ("yes", "no"), method="full")
    pool = AdapterPool(tiny, max_adapters=2)
    with pytest.raises(ArtifactMismatch, match="a full model has no adapter"):
        pool.generate("full", full, {"prompt": "is it good"})
    other = train_model(tiny, tmp_path / "other", ("yes", "no"))
    manifest = LLMManifest.read(other)
    manifest.fingerprint["chat_template_sha256"] = "0" * 64
    (other / "model.json").write_text(manifest.to_json())
    with pytest.raises(ArtifactMismatch, match="trained with another tokenizer"):
        pool.generate("other", other, {"prompt": "is it good"})
    assert pool.loaded == {}


def untrained_model(tiny: Path, target: Path) -> Path:
    """A LoRA model as it starts (its adapter adds nothing yet): it babbles the random base's long replies."""
    tokenizer = load_tokenizer(tiny)
    model = LLM.apply_method(load_model(tiny), "lora", LoraOptions(dropout=0.0))
    LLM.save(model, tokenizer, LLMManifest("lora", "bm_tiny", "0" * 64, Fingerprint.of(tokenizer).__dict__, 32), target)
    return target


def test_a_long_reply_yields_to_a_short_one_of_another_model(
    tiny: Path, adapters: dict[str, Path], tmp_path: Path
) -> None:
    """The finding: one org's 1,024-token playground reply held the shared replica, and the next caller, of any
    org, waited behind all of it. Now the long reply yields after its slice to whoever waits, and is still
    the reply it would have been."""
    babbler = untrained_model(tiny, tmp_path / "babbler")
    long = {"prompt": "tell me everything", "max_new_tokens": 120, "temperature": 1.0, "seed": 5}
    unbroken = AdapterPool(tiny, max_adapters=2).generate("babbler", babbler, dict(long))
    assert unbroken["usage"]["completion_tokens"] > 50  # long enough to be cut into slices

    pool = AdapterPool(tiny, max_adapters=2, slice_s=0.02)
    started, finished = threading.Event(), []

    def on_text(piece: Piece) -> None:  # on the serving thread: the long reply is under way
        if not started.is_set():
            started.set()
            deadline = time.monotonic() + 30
            while not pool._waiting and time.monotonic() < deadline:  # however loaded the machine, it waits
                time.sleep(0.001)

    def hog() -> dict[str, Any]:
        reply = pool.generate("babbler", babbler, dict(long), on_text)
        finished.append("long")
        return reply

    def short() -> dict[str, Any]:
        reply = pool.generate("unsure", adapters["unsure"], {"prompt": "is it sad", "max_new_tokens": 4})
        finished.append("short")
        return reply

    with ThreadPoolExecutor(max_workers=2) as threads:
        long_reply = threads.submit(hog)
        assert started.wait(30)
        short_reply = threads.submit(short)
        assert short_reply.result(60)["text"] == "maybe no"
        assert long_reply.result(60) == unbroken
    # The long reply yielded (the short one may have yielded back, on a loaded machine: slices alternate).
    assert finished == ["short", "long"] and pool.pauses >= 1, (finished, pool.pauses, unbroken["usage"])
