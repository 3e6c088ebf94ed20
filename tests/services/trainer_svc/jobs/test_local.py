"""The local-process backend on its own: status, logs, cancel, and a job started before a restart."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

from trainer_svc.jobs.local import LocalProcessBackend


def backend(tmp_path: Path) -> LocalProcessBackend:
    return LocalProcessBackend(tmp_path, python=sys.executable, env={}, max_concurrent=1, grace_s=1.0)


async def test_a_job_from_before_a_restart_is_found_running_then_lost(tmp_path: Path) -> None:
    job_id = "model_x-1"
    process = await asyncio.to_thread(
        subprocess.Popen,
        [sys.executable, "-c", "import time; time.sleep(60)", job_id],
        start_new_session=True,  # as the backend starts its workers
    )
    try:
        # Until the child has exec'd, its command line is still this process's (seen once in CI: "lost").
        cmdline = Path(f"/proc/{process.pid}/cmdline")
        deadline = time.monotonic() + 10
        while job_id.encode() not in cmdline.read_bytes() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        fresh = backend(tmp_path)  # a new trainer-svc: it never started this process
        (tmp_path / job_id).mkdir()
        (tmp_path / job_id / "pid").write_text(str(process.pid))  # as submit() records it
        handle = f"local:{job_id}"
        assert (await fresh.status(handle)).state == "running"
        assert (await fresh.status(f"local:{job_id}:{process.pid}")).state == "running"  # an older handle
        assert (await fresh.status(f"local:other-job:{process.pid}")).state == "lost"  # a reused pid
        assert (await fresh.status("local:never-submitted")).state == "absent"
        await fresh.cancel(handle)
        process.wait(timeout=10)
        status = await fresh.status(handle)
        assert status.state == "lost"
        assert status.restartable
        assert "restarted" in (status.reason or "")
    finally:
        process.kill()
        process.wait()


async def test_free_slots_logs_and_exit_codes(tmp_path: Path) -> None:
    jobs = backend(tmp_path)
    assert jobs.free_slots() == 1
    process = await asyncio.to_thread(
        subprocess.Popen, [sys.executable, "-c", "print('hello'); raise SystemExit(3)"], stdout=subprocess.DEVNULL
    )
    handle = "local:job-2"
    jobs._processes[handle] = process  # as submit() records it
    await asyncio.to_thread(process.wait)
    status = await jobs.status(handle)
    assert status.state == "failed"
    assert status.exit_code == 3
    assert status.restartable  # 3: interrupted after a checkpoint
    (tmp_path / "job-2").mkdir()
    (tmp_path / "job-2" / "worker.log").write_text("\n".join(f"line {i}" for i in range(100)))
    assert (await jobs.logs(handle, 3)).splitlines() == ["line 97", "line 98", "line 99"]
    jobs.forget(handle)
    assert jobs.free_slots() == 1
