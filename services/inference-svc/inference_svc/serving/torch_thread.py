"""The one thread a replica runs torch on (its own module: it needs torch alone, so the GPU check imports it
on a machine without the service's dependencies)."""

from __future__ import annotations

import asyncio
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

    def _configure(self) -> None:
        import torch

        if self.torch_threads > 0:
            torch.set_num_threads(self.torch_threads)

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)
