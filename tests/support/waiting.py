"""Waiting for something to become true, from synchronous or async test code."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout_s: float, what: str, interval_s: float = 0.05) -> T:
    """The first truthy value of ``predicate()``; ``TimeoutError`` naming ``what`` if none within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    raise TimeoutError(what)


async def until(
    check: Callable[[], Awaitable[T | None]], what: str, timeout_s: float = 30, interval_s: float = 0.05
) -> T:
    """The first truthy value of ``await check()``, from async test code; fails naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not (value := await check()):
        assert time.monotonic() < deadline, what
        await asyncio.sleep(interval_s)
    return value
