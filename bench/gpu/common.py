"""What every part of the GPU check shares: the device, its peak memory, hooks for the platform's training
loop that keep nothing, and how a run is sized to a time budget from a rate measured just before."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import torch

T = TypeVar("T")
GIB = 1024**3


@dataclass(frozen=True)
class Setup:
    """Where a part runs and at what size: ``tiny`` is the CPU self-check's small models and short runs."""

    device: torch.device
    tiny: bool

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    def seconds(self, full: float) -> float:
        """A measuring window: ``full`` seconds on a GPU, a fraction of a second in the self-check."""
        return 0.3 if self.tiny else full


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@contextmanager
def peak_memory(device: torch.device) -> Iterator[list[float]]:
    """The peak GPU memory (GiB) allocated by torch within the block, in the list yielded (0 on the CPU)."""
    peak: list[float] = [0.0]
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    yield peak
    if device.type == "cuda":
        synchronize(device)
        peak[0] = torch.cuda.max_memory_allocated(device) / GIB


def timed(device: torch.device, call: Callable[[], T]) -> tuple[T, float]:
    synchronize(device)
    started = time.perf_counter()
    result = call()
    synchronize(device)
    return result, time.perf_counter() - started


def sized(rate: float, seconds: float, batch: int, least: int, most: int) -> int:
    """How many examples fill about ``seconds`` at ``rate`` examples/s: whole batches, within bounds."""
    wanted = int(rate * seconds) // batch * batch
    return max(least, min(most, wanted))


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def gib(setup: Setup, peak: float) -> str:
    """The peak GPU memory, said (nothing on the CPU, where torch keeps no such count)."""
    return f"peak {peak:.2f} GiB" if setup.cuda else "peak n/a on cpu"


def number(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"
