"""One vocabulary for how a training worker ended, whichever backend ran it.

A local process killed by a signal reports ``-N``; a container (and a shell, and the distributed launcher)
reports ``128 + N``. Both read here as one :class:`Exit`. The worker's own codes are named once, in
:class:`WorkerExit`, and the Kubernetes failure policy, the dispatcher and the worker all use these names."""

from __future__ import annotations

import signal
from dataclasses import dataclass
from enum import IntEnum


class WorkerExit(IntEnum):
    OK = 0  # succeeded, or cancelled on request (reported to trainer-svc)
    FAILED = 1  # failed; the reason was reported to trainer-svc
    BAD_INPUT = 2  # the spec or the data cannot be trained on: another attempt would fail the same way
    INTERRUPTED = 3  # stopped by SIGTERM (preemption, eviction, shutdown) after a checkpoint: resume it


# Signals that come from outside the job (the kernel's OOM killer, a node going away, a kill -9, a shutdown):
# the job itself did nothing wrong, so it resumes from its checkpoint while attempts remain.
OUTSIDE_SIGNALS = frozenset({signal.SIGKILL, signal.SIGTERM, signal.SIGINT, signal.SIGHUP})


@dataclass(frozen=True)
class Exit:
    code: int  # as the backend reported it
    signal: signal.Signals | None = None

    @property
    def worker(self) -> WorkerExit | None:
        if self.signal is not None:
            return None
        try:
            return WorkerExit(self.code)
        except ValueError:
            return None

    @property
    def restartable(self) -> bool:
        """Worth another attempt from the checkpoint: killed from outside, or interrupted on purpose."""
        return (self.signal is not None and self.signal in OUTSIDE_SIGNALS) or self.worker is WorkerExit.INTERRUPTED

    @property
    def shell_code(self) -> int:
        return 128 + self.signal if self.signal is not None else self.code

    def describe(self) -> str:
        if self.signal is not None:
            hint = " (out of memory?)" if self.signal == signal.SIGKILL else ""
            return f"the worker was killed by {self.signal.name}{hint}"
        reasons = {
            WorkerExit.OK: "the worker exited without reporting an outcome",
            WorkerExit.FAILED: "the worker failed",
            WorkerExit.BAD_INPUT: "the worker refused its input (exit code 2: bad input)",
            WorkerExit.INTERRUPTED: "the worker was interrupted (SIGTERM) after saving a checkpoint",
        }
        worker = self.worker
        return reasons[worker] if worker is not None else f"the worker exited with code {self.code}"


def read_exit(code: int) -> Exit:
    """``-9`` (a local process) and ``137`` (a container) are both SIGKILL."""
    number = -code if code < 0 else code - 128 if code > 128 else None
    if number is not None:
        try:
            return Exit(code, signal.Signals(number))
        except ValueError:
            pass
    return Exit(code)
