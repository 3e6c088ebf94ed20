"""The training loop's view of torch.distributed: which rank this process is, of how many, on which device,
and the one collective the loop needs besides DDP's own (every rank agreeing to stop).

A world of one (no process group) is the same code with no communication."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.distributed as dist
from numpy.typing import NDArray

DevicePreference = Literal["auto", "cpu", "cuda"]
Backend = Literal["auto", "nccl", "gloo"]


class DeviceUnavailable(RuntimeError):
    """The job or deployment asks for a GPU that this process's torch cannot use."""


def pick_device(preference: DevicePreference = "auto", local_rank: int = 0) -> torch.device:
    """``cuda``: this rank's GPU, or ``DeviceUnavailable`` saying why there is none (a CPU build of torch in a
    GPU image, no driver); ``cpu``: the CPU even where a GPU is visible; ``auto``: the GPU when there is one."""
    if preference == "cpu":
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    if preference == "cuda":
        build = f"torch {torch.__version__}" + (
            f" (CUDA {torch.version.cuda})" if torch.version.cuda else ", a build without CUDA"
        )
        raise DeviceUnavailable(f"a GPU was asked for (device cuda) but {build} sees none")
    return torch.device("cpu")


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0
    preference: DevicePreference = "auto"

    @classmethod
    def current(cls, preference: DevicePreference = "auto") -> World:
        if not dist.is_available() or not dist.is_initialized():
            return cls(preference=preference)
        return cls(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")), preference)

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def leader(self) -> bool:
        """Rank 0: the one that writes checkpoints, events and artifacts."""
        return self.rank == 0

    def device(self) -> torch.device:
        """This rank's device, as ``preference`` says (``pick_device``)."""
        return pick_device(self.preference, self.local_rank)

    def any(self, *flags: bool) -> list[bool]:
        """Each flag, true when it is true on any rank (so every rank stops at the same step)."""
        if not self.distributed:
            return list(flags)
        tensor = torch.tensor([1.0 if flag else 0.0 for flag in flags])
        if dist.get_backend() == "nccl":  # NCCL reduces GPU tensors only
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


def init_from_environment(device: DevicePreference = "auto", backend: Backend = "auto") -> World:
    """Join the process group torchrun describes (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``...) on the device
    ``device`` picks: ``backend`` auto is NCCL on GPUs, gloo on CPUs (gloo also reduces GPU tensors, through
    the host: where NCCL cannot start). Outside torchrun, a world of one."""
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    chosen = pick_device(device, local_rank)  # a GPU asked for and missing fails here, before any rendezvous
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return World.current(device)
    if chosen.type == "cuda":
        torch.cuda.set_device(chosen)
    if backend == "auto":
        backend = "nccl" if chosen.type == "cuda" else "gloo"
    dist.init_process_group(backend=backend)
    return World.current(device)


def leave() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
