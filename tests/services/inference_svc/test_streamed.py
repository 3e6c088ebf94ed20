"""A replica's stream of a reply (``serving.replicas.streamed``): when the reader goes away before the reply is
done, the generation is told to stop (it would otherwise hold the replica's model for nobody)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from inference_svc.serving.replicas import streamed
from modelkit.model_types.llm.generation import OnText, Piece


async def test_a_dropped_stream_tells_the_generation_to_stop() -> None:
    stopped = threading.Event()

    def generation(emit: OnText, gone: Callable[[], bool]) -> dict[str, Any]:
        for index in range(10_000):  # a long reply, one piece at a time
            if gone():
                stopped.set()
                return {"text": "", "stopped_at": index}
            emit(Piece(f"piece {index} ", 5, index + 1))
            threading.Event().wait(0.001)
        return {"text": "all of it"}

    stream = streamed(lambda emit, gone: asyncio.to_thread(generation, emit, gone))
    first = await anext(stream)
    assert first == {"delta": "piece 0 ", "usage": {"prompt_tokens": 5, "completion_tokens": 1}}
    await stream.aclose()  # the reader goes away
    assert await asyncio.to_thread(stopped.wait, 10), "the generation ran on for nobody"


async def test_a_stream_read_to_its_end_ends_with_the_whole_answer() -> None:
    def generation(emit: OnText, gone: Callable[[], bool]) -> dict[str, Any]:
        for tokens, piece in enumerate(("a", "b"), start=1):
            emit(Piece(piece, 3, tokens))
        assert not gone()
        return {"text": "ab"}

    items = [item async for item in streamed(lambda emit, gone: asyncio.to_thread(generation, emit, gone))]
    assert items == [
        {"delta": "a", "usage": {"prompt_tokens": 3, "completion_tokens": 1}},
        {"delta": "b", "usage": {"prompt_tokens": 3, "completion_tokens": 2}},
        {"done": True, "text": "ab"},
    ]
