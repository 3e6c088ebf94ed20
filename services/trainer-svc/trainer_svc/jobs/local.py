"""The local-process backend: each job is ``python -m trainer_svc.worker <spec.json>`` on this host, at
most ``max_concurrent`` at a time (trainer-svc keeps the rest queued). Logs go to a file per job, and the
worker's pid to ``<job dir>/pid``, so a trainer-svc that restarts finds its jobs by their handle
(``local:<job id>``) alone."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from collections import deque
from pathlib import Path

from automl_proto.training import JobSpec
from trainer_svc.jobs.backend import JobBackendError, JobStatus


class LocalProcessBackend:
    def __init__(
        self,
        work_dir: Path,
        *,
        python: str,
        env: dict[str, str],
        max_concurrent: int,
        grace_s: float,
    ) -> None:
        self.work_dir = work_dir
        self.python = python
        self.env = env
        self.max_concurrent = max_concurrent
        self.grace_s = grace_s
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        self._killers: set[asyncio.Task[None]] = set()

    def _job_dir(self, job_id: str) -> Path:
        return self.work_dir / job_id

    @staticmethod
    def _parse(handle: str) -> tuple[str, int | None]:
        """``local:<job id>``; handles of earlier versions carry the pid too (``local:<job id>:<pid>``)."""
        kind, _, rest = handle.partition(":")
        if kind != "local" or not rest:
            raise JobBackendError(f"not a local job handle: {handle!r}")
        job_id, _, pid = rest.partition(":")
        return job_id, int(pid) if pid else None

    def handle_for(self, spec: JobSpec) -> str:
        return f"local:{spec.job_id}"

    def _pid(self, handle: str) -> int | None:
        job_id, pid = self._parse(handle)
        if pid is not None:
            return pid
        try:
            return int((self._job_dir(job_id) / "pid").read_text())
        except (OSError, ValueError):
            return None

    async def submit(self, spec: JobSpec) -> str:
        handle = self.handle_for(spec)
        process = self._processes.get(handle)
        if process is not None and process.poll() is None:
            return handle  # submitted already: adopted
        if process is None and self._pid(handle) is not None and (await self.status(handle)).state == "running":
            return handle  # started by a predecessor of this trainer-svc, still running
        self._processes[handle] = await asyncio.to_thread(self._spawn, spec)
        return handle

    def _spawn(self, spec: JobSpec) -> subprocess.Popen[bytes]:
        job_dir = self._job_dir(spec.job_id)
        job_dir.mkdir(parents=True, exist_ok=True)
        spec_path = job_dir / "spec.json"
        spec_path.write_text(spec.model_dump_json())
        spec_path.chmod(0o600)  # it holds the job's token
        with (job_dir / "worker.log").open("ab") as log:
            process = subprocess.Popen(
                [self.python, "-m", "trainer_svc.worker", str(spec_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                cwd=job_dir,
                start_new_session=True,  # a signal to trainer-svc's group does not reach the workers
            )
        (job_dir / "pid").write_text(str(process.pid))
        return process

    async def status(self, handle: str) -> JobStatus:
        process = self._processes.get(handle)
        if process is None:
            return self._status_of_stranger(handle)
        code = process.poll()
        if code is None:
            return JobStatus("running")
        return JobStatus.exited(code)

    def _status_of_stranger(self, handle: str) -> JobStatus:
        """A job started before trainer-svc restarted: alive if its pid still runs this job's worker."""
        job_id, _ = self._parse(handle)
        pid = self._pid(handle)
        if pid is None:
            return JobStatus("absent", reason="no worker was started for this job")
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            cmdline = b""
        if job_id.encode() in cmdline:
            return JobStatus("running")
        return JobStatus(
            "lost", reason="the worker process is gone (trainer-svc restarted while it ran)", restartable=True
        )

    async def logs(self, handle: str, tail_lines: int) -> str:
        job_id, _ = self._parse(handle)
        path = self._job_dir(job_id) / "worker.log"
        try:
            with path.open("rb") as log:
                log.seek(0, os.SEEK_END)
                log.seek(max(0, log.tell() - 64 * 1024))
                lines = log.read().decode(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(deque(lines, maxlen=tail_lines))

    async def cancel(self, handle: str) -> None:
        pid = self._pid(handle)
        process = self._processes.get(handle)
        if pid is None or (process is not None and process.poll() is not None):
            return
        if process is None and (await self.status(handle)).state != "running":
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        task = asyncio.create_task(self._kill_after_grace(handle, pid))
        self._killers.add(task)
        task.add_done_callback(self._killers.discard)

    async def _kill_after_grace(self, handle: str, pid: int) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.grace_s
        while loop.time() < deadline:
            if (await self.status(handle)).finished:
                return
            await asyncio.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)

    def free_slots(self) -> int:
        running = sum(1 for process in self._processes.values() if process.poll() is None)
        return max(0, self.max_concurrent - running)

    def forget(self, handle: str) -> None:
        """A finished job whose outcome has been recorded."""
        process = self._processes.pop(handle, None)
        if process is not None:
            process.wait()

    async def aclose(self) -> None:
        """trainer-svc is stopping: its workers stop too (SIGTERM, then SIGKILL after the grace period).
        Their models resume from their last checkpoint when trainer-svc starts again."""
        running = [handle for handle, process in self._processes.items() if process.poll() is None]
        for handle in running:
            await self.cancel(handle)
        await asyncio.gather(*self._killers, return_exceptions=True)
        for process in self._processes.values():
            await asyncio.to_thread(process.wait)
        self._processes.clear()
