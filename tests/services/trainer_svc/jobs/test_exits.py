"""The one exit-code vocabulary: a process's -N and a container's 128+N are the same signal."""

from __future__ import annotations

import signal

from trainer_svc.jobs.exits import WorkerExit, read_exit


def test_a_signal_reads_the_same_from_a_process_and_from_a_pod() -> None:
    for number in (signal.SIGKILL, signal.SIGTERM):
        local, pod = read_exit(-number), read_exit(128 + number)
        assert local.signal == pod.signal == number
        assert local.restartable and pod.restartable
        assert local.shell_code == pod.shell_code == 128 + number
        assert local.describe() == pod.describe()
    assert read_exit(-9).describe() == "the worker was killed by SIGKILL (out of memory?)"


def test_the_workers_own_codes() -> None:
    assert read_exit(0).worker is WorkerExit.OK
    assert not read_exit(1).restartable
    bad = read_exit(2)
    assert (bad.worker, bad.restartable) == (WorkerExit.BAD_INPUT, False)
    assert "bad input" in bad.describe()
    assert read_exit(3).restartable  # interrupted after a checkpoint
    assert read_exit(-6).signal == signal.SIGABRT and not read_exit(-6).restartable  # a crash of its own
    assert read_exit(42).describe() == "the worker exited with code 42"
