"""The one thread a replica runs torch on (its own module: it needs torch alone, so the GPU check imports it
on a machine without the service's dependencies)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class TorchThread:
    """The one thread a replica runs torch on. Under OpenMP each thread that starts a parallel region gets its
    own pool of worker threads: forward passes spread over a thread pool's several threads (``to_thread``)
    multiply those pools, and measured here a pass from a second thread took 18 ms against 13.5 ms from the
    first. Loading and every forward pass go through this thread, so there is one pool, sized once."""

    def __init__(self, torch_threads: int) -> None:
        self.torch_threads = torch_threads
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="torch")
        self._executor.submit(self._configure).result()
        # Each written by one thread only: calls handed over (the event loop's), calls begun (the torch thread's).
        self._submitted = 0
        self._begun = 0

    def _configure(self) -> None:
        import torch

        if self.torch_threads > 0:
            torch.set_num_threads(self.torch_threads)

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        def call() -> T:
            self._begun += 1
            return function(*args)

        self._submitted += 1
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    def waiting(self) -> int:
        """Calls handed to the thread that have not begun."""
        return self._submitted - self._begun

    def turn_over(self, slice_s: float) -> Callable[[], bool]:
        """For the call running on the thread: true once others wait for the thread and it has run
        ``slice_s`` (timed from its first question)."""
        began: list[float] = []

        def over() -> bool:
            now = time.monotonic()
            if not began:
                began.append(now)
            return self.waiting() > 0 and now - began[0] >= slice_s

        return over
