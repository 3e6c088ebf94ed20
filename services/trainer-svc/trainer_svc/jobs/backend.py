"""Where training workers run. One small interface, three implementations: local processes (the default),
Kubernetes Jobs, and the fake the contract tests also run. ``tests/services/trainer_svc/jobs/contract.py``
is what each must do."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from automl_proto.training import JobSpec
from trainer_svc.jobs.exits import Exit, read_exit

# pending: accepted, not running yet (``reason`` says what it waits for); absent: the backend has no such job
# (it was never created, e.g. trainer-svc stopped between recording the handle and submitting).
JobState = Literal["pending", "running", "succeeded", "failed", "lost", "absent"]


@dataclass
class JobStatus:
    state: JobState
    exit: Exit | None = None
    reason: str | None = None  # what a pending job waits for; why a job ended, when it did not succeed
    restartable: bool = False  # ended by something outside the job: another attempt resumes it

    @classmethod
    def exited(cls, code: int, reason: str | None = None) -> JobStatus:
        ended = read_exit(code)
        if code == 0:
            return cls("succeeded", ended)
        return cls("failed", ended, reason or ended.describe(), ended.restartable)

    @property
    def exit_code(self) -> int | None:
        return self.exit.code if self.exit is not None else None

    @property
    def finished(self) -> bool:
        return self.state in ("succeeded", "failed", "lost")


class JobBackendError(Exception):
    """The backend refused or could not take a call; ``retriable`` says whether trying again may help."""

    def __init__(self, message: str, *, retriable: bool = False) -> None:
        super().__init__(message)
        self.retriable = retriable


class JobBackend(Protocol):
    def handle_for(self, spec: JobSpec) -> str:
        """The handle ``spec``'s job has, known before it is submitted (recorded first, then submitted)."""
        ...

    async def submit(self, spec: JobSpec) -> str:
        """Start the worker for ``spec``; idempotent by job: a second submit adopts the first. Returns the
        handle (``handle_for(spec)``) that ``status``, ``logs`` and ``cancel`` take."""
        ...

    async def status(self, handle: str) -> JobStatus: ...

    async def logs(self, handle: str, tail_lines: int) -> str: ...

    async def cancel(self, handle: str) -> None:
        """Stop the job: ask it to stop, then kill it after the grace period. Idempotent."""
        ...

    def free_slots(self) -> int:
        """How many more jobs to submit now (the local backend's limit; a cluster queues them itself)."""
        ...

    def forget(self, handle: str) -> None:
        """The job's outcome is recorded; release what the backend keeps for it."""
        ...

    async def aclose(self) -> None: ...
