"""Where training workers run. One small interface; the local-process backend is the default and a
Kubernetes Job backend implements the same four calls (plus ``free_slots``, which is unbounded there)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from automl_proto.training import JobSpec

JobState = Literal["pending", "running", "succeeded", "failed", "lost"]


@dataclass
class JobStatus:
    state: JobState
    exit_code: int | None = None
    reason: str | None = None  # why it ended, when it did not succeed

    @property
    def finished(self) -> bool:
        return self.state in ("succeeded", "failed", "lost")

    @property
    def killed(self) -> bool:
        """Ended by a signal it did not choose (SIGKILL: out of memory, node lost): worth a restart."""
        return self.state == "lost" or (self.exit_code is not None and self.exit_code < 0)


class JobBackendError(Exception):
    pass


class JobBackend(Protocol):
    async def submit(self, spec: JobSpec) -> str:
        """Start the worker for ``spec``; return a handle that ``status``, ``logs`` and ``cancel`` take."""
        ...

    async def status(self, handle: str) -> JobStatus: ...

    async def logs(self, handle: str, tail_lines: int) -> str: ...

    async def cancel(self, handle: str) -> None:
        """Stop the job: ask it to stop, then kill it after the grace period. Idempotent."""
        ...

    def free_slots(self) -> int: ...

    def forget(self, handle: str) -> None:
        """The job's outcome is recorded; release what the backend keeps for it."""
        ...

    async def aclose(self) -> None: ...
