"""The training loop's view of torch.distributed: which rank this process is, of how many, on which device,
and the one collective the loop needs besides DDP's own (every rank agreeing to stop).

A world of one (no process group) is the same code with no communication."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from numpy.typing import NDArray


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @classmethod
    def current(cls) -> World:
        if not dist.is_available() or not dist.is_initialized():
            return cls()
        return cls(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def leader(self) -> bool:
        """Rank 0: the one that writes checkpoints, events and artifacts."""
        return self.rank == 0

    def device(self) -> torch.device:
        """This rank's GPU when there is one, else the CPU."""
        if torch.cuda.is_available():
            return torch.device("cuda", self.local_rank % torch.cuda.device_count())
        return torch.device("cpu")

    def any(self, *flags: bool) -> list[bool]:
        """Each flag, true when it is true on any rank (so every rank stops at the same step)."""
        if not self.distributed:
            return list(flags)
        tensor = torch.tensor([1.0 if flag else 0.0 for flag in flags])
        if dist.get_backend() == "nccl":
            tensor = tensor.to(self.device())
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
        return [bool(value) for value in tensor.cpu().tolist()]

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def shard(self, positions: NDArray[np.int64]) -> tuple[NDArray[np.int64], float]:
        """This rank's part of a global batch, and the weight of its loss (0 for a rank the last, short batch
        left empty: it still runs the step, on one row, so that every rank takes part in each reduction)."""
        mine = positions[self.rank :: self.size]
        if len(mine):
            return mine, 1.0
        return positions[:1], 0.0


def init_from_environment() -> World:
    """Join the process group torchrun describes (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``...): NCCL on GPUs,
    gloo on CPUs. Outside torchrun, a world of one."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return World.current()
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")) % torch.cuda.device_count())
    dist.init_process_group(backend=backend)
    return World.current()


def leave() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
