"""Dynamic batching inside a replica: single inputs from concurrent requests are gathered into one forward pass.

The next batch is formed when the model is free, from every input that arrived while it was busy (up to
``max_batch_size``): under load batches fill by themselves, and a lone request on an idle model waits at most
``batch_wait_timeout_s`` for company. Ray Serve's ``@serve.batch`` (2.60) instead closes each batch
``batch_wait_timeout_s`` after its first input, whether or not the model is free, and queues the closed
batches: measured on this project's replicas, 32 concurrent callers with a 0 wait gave batches of 1.04 inputs
on average, and a longer wait adds that wait to every request at low load."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

In = TypeVar("In")
Out = TypeVar("Out")


@dataclass
class BatchStats:
    batches: int = 0
    inputs: int = 0
    largest: int = 0

    @property
    def mean_size(self) -> float:
        return self.inputs / self.batches if self.batches else 0.0


class DynamicBatcher(Generic[In, Out]):
    """``run`` takes a list of inputs and returns one output per input, in order; it is awaited for one batch
    at a time. Create and use on one event loop."""

    def __init__(
        self,
        run: Callable[[list[In]], Awaitable[Sequence[Out]]],
        *,
        max_batch_size: int,
        batch_wait_timeout_s: float,
    ) -> None:
        self.run = run
        self.max_batch_size = max_batch_size
        self.batch_wait_timeout_s = batch_wait_timeout_s
        self.stats = BatchStats()
        self._queue: asyncio.Queue[tuple[In, asyncio.Future[Out]]] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None

    def configure(self, *, max_batch_size: int, batch_wait_timeout_s: float) -> None:
        """New limits, used from the next batch on."""
        self.max_batch_size = max_batch_size
        self.batch_wait_timeout_s = batch_wait_timeout_s

    async def submit(self, item: In) -> Out:
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._work(), name="dynamic-batcher")
        future: asyncio.Future[Out] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((item, future))
        return await future

    async def aclose(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker

    async def _next_batch(self) -> list[tuple[In, asyncio.Future[Out]]]:
        batch = [await self._queue.get()]
        limit = self.max_batch_size
        if self._queue.empty() and self.batch_wait_timeout_s > 0 and limit > 1:
            # An idle model: give concurrent requests a moment to join.
            deadline = asyncio.get_running_loop().time() + self.batch_wait_timeout_s
            while len(batch) < limit:
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), remaining))
                except TimeoutError:
                    break
        while len(batch) < limit and not self._queue.empty():
            batch.append(self._queue.get_nowait())
        return [(item, future) for item, future in batch if not future.done()]  # callers gone: skipped

    async def _work(self) -> None:
        while True:
            batch = await self._next_batch()
            if not batch:
                continue
            self.stats.batches += 1
            self.stats.inputs += len(batch)
            self.stats.largest = max(self.stats.largest, len(batch))
            try:
                outputs = await self.run([item for item, _ in batch])
                if len(outputs) != len(batch):
                    raise RuntimeError(f"{len(outputs)} outputs for a batch of {len(batch)} inputs")
            except Exception as error:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            for (_, future), output in zip(batch, outputs, strict=True):
                if not future.done():
                    future.set_result(output)
