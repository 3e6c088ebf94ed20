"""Start platform services as real processes for benchmarks, and watch their memory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

HOST = "127.0.0.1"


@contextmanager
def service_process(module: str, env: dict[str, str], port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with open(log, "wb") as handle:
        process = subprocess.Popen([sys.executable, "-m", module], env=env, stdout=handle, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://{HOST}:{port}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{module} did not start; see {log}")
            time.sleep(0.1)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()


class PeakMemory:
    """Samples the resident memory of some processes every few milliseconds (each service process with any
    children it starts; the benchmark's own process must be listed without children: they are the services)."""

    def __init__(self, pids: dict[str, int], interval_s: float = 0.02, *, with_children: bool = True) -> None:
        self.processes = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.with_children = with_children
        self.peaks = dict.fromkeys(pids, 0)
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, process in self.processes.items():
                try:
                    rss = process.memory_info().rss
                    if self.with_children:
                        rss += sum(child.memory_info().rss for child in process.children(recursive=True))
                except psutil.Error:
                    continue
                self.peaks[name] = max(self.peaks[name], rss)
            time.sleep(self.interval_s)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def clean_env(**values: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("AUTOML_")} | values


def wait_while(client: httpx.Client, path: str, pending: str, timeout_s: float = 600) -> dict[str, object]:
    """GET ``path`` until its ``status`` is no longer ``pending``."""
    deadline = time.monotonic() + timeout_s
    while True:
        body: dict[str, object] = client.get(path).json()
        if body["status"] != pending:
            return body
        if time.monotonic() > deadline:
            raise TimeoutError(body)
        time.sleep(0.1)


@dataclass(frozen=True)
class LocalPlatform:
    data_dir: Path
    ports: dict[str, int]  # by env prefix: AUTOML_GATEWAY_, AUTOML_TRAINER_, ...
    admin_key: str

    @property
    def gateway_port(self) -> int:
        return self.ports["AUTOML_GATEWAY_"]

    @property
    def gateway_url(self) -> str:
        return f"http://{HOST}:{self.gateway_port}"


@contextmanager
def local_platform(data_dir: Path, **settings: str) -> Iterator[LocalPlatform]:
    """The whole platform as `make up` starts it (its own processes, a local Ray), on free ports under
    ``data_dir``; ``settings`` are extra AUTOML_* variables."""
    from deploy.local.up import SERVICES
    from tests.support.ports import free_port

    ports = {service.env_prefix: free_port() for service in SERVICES}
    env = clean_env(AUTOML_DATA_DIR=str(data_dir), **{f"{prefix}PORT": str(port) for prefix, port in ports.items()})
    process = subprocess.Popen(
        [sys.executable, "-m", "deploy.local.up"], env=env | settings, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        assert process.stdout is not None
        output = []
        for raw in process.stdout:
            output.append(raw.decode(errors="replace"))
            if raw.startswith(b"Ctrl-C"):
                break
        else:
            raise RuntimeError("make up failed:\n" + "".join(output))
        yield LocalPlatform(data_dir, ports, (data_dir / "admin.key").read_text().strip())
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
