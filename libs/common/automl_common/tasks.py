"""Background work owned by a service process: one asyncio task per key (a dataset, a snapshot...),
started at most once at a time, cancellable, and all cancelled when the service stops."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any


class TaskRegistry:
    def __init__(self) -> None:
        self.tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, key: str, work: Callable[[], Coroutine[Any, Any, None]]) -> bool:
        """Run ``work()`` for ``key`` unless it is already running; True if it was started."""
        running = self.tasks.get(key)
        if running is not None and not running.done():
            return False
        task = asyncio.create_task(work(), name=key)
        self.tasks[key] = task
        task.add_done_callback(lambda _: self.tasks.pop(key, None) if self.tasks.get(key) is task else None)
        return True

    async def cancel(self, key: str) -> None:
        task = self.tasks.pop(key, None)
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def aclose(self) -> None:
        for key in list(self.tasks):
            await self.cancel(key)
