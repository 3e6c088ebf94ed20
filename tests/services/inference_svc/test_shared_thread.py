"""The shared playground replica's one torch thread, which every org's models use: a long reply of one model
yields the thread, slice by slice, to whoever waits (``PlaygroundReplica``, ``TorchThread.turn_over``), and
is still the reply it would have been alone."""

from __future__ import annotations

import asyncio
import time

import pytest

from inference_svc.serving.replicas import PlaygroundReplica
from inference_svc.serving.torch_thread import TorchThread
from modelkit.model_types.llm import LLMManifest, load_model, load_tokenizer
from modelkit.model_types.llm.chat import Fingerprint
from modelkit.model_types.llm.generation import Piece
from modelkit.model_types.llm.predict import LLMPredictor
from tests.support.tiny_models import build_tiny_llama


async def test_a_call_is_told_to_turn_over_the_thread_once_another_waits() -> None:
    thread = TorchThread(1)
    turns: list[str] = []

    def long() -> float:
        over = thread.turn_over(0.05)
        began = time.monotonic()
        while not over():
            assert time.monotonic() - began < 10, "never told to turn over"
            time.sleep(0.001)
        turns.append("long")
        return time.monotonic() - began

    first = asyncio.ensure_future(thread.run(long))
    await asyncio.sleep(0.2)  # alone: it runs on past its slice
    assert thread.waiting() == 0
    second = asyncio.ensure_future(thread.run(turns.append, "short"))
    ran = await first
    await second
    assert turns == ["long", "short"] and ran >= 0.2 and thread.waiting() == 0


@pytest.fixture(scope="module")
def babbler(tmp_path_factory: pytest.TempPathFactory) -> LLMPredictor:
    """A whole model (random weights: long replies) as the playground replica holds it."""
    folder = build_tiny_llama(tmp_path_factory.mktemp("llama") / "model")
    tokenizer = load_tokenizer(folder)
    manifest = LLMManifest("full", "bm_tiny", "0" * 64, Fingerprint.of(tokenizer).__dict__, 32)
    return LLMPredictor(load_model(folder), tokenizer, manifest)


async def test_a_long_reply_yields_the_thread_to_a_short_one(babbler: LLMPredictor) -> None:
    """The finding: one org's long playground reply held the shared replica, and the next caller, of any org,
    waited behind all of it."""
    replica = PlaygroundReplica(torch_threads=1, device="cpu", slice_s=0.01)
    long = {"prompt": "tell me everything", "max_new_tokens": 150}
    alone = await replica._generated(babbler, dict(long))
    assert alone["usage"]["completion_tokens"] > 50
    finished: list[str] = []
    started = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_text(piece: Piece) -> None:  # on the torch thread: the long reply is under way
        if not started.is_set():
            loop.call_soon_threadsafe(started.set)
            deadline = time.monotonic() + 30
            while replica.thread.waiting() == 0 and time.monotonic() < deadline:  # however loaded the machine
                time.sleep(0.001)

    async def hog() -> dict[str, object]:
        reply = await replica._generated(babbler, dict(long), on_text)
        finished.append("long")
        return reply

    async def short() -> dict[str, object]:
        reply = await replica._generated(babbler, {"prompt": "hi", "max_new_tokens": 2})
        finished.append("short")
        return reply

    hogging = asyncio.ensure_future(hog())
    await asyncio.wait_for(started.wait(), 30)
    quick = await short()
    assert quick["usage"]["completion_tokens"] == 2  # type: ignore[index]
    assert await hogging == alone
    assert finished == ["short", "long"]
