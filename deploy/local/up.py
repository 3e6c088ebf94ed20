"""`make up`: run the five services on this machine with the embedded defaults (SQLite and a filesystem
object store under the data dir), wait until all are ready, print the gateway URL and an admin key, keep
them up (a service that dies is started again after a backoff, the others serving meanwhile), and stop them
all cleanly on Ctrl-C (or SIGTERM)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import httpx

from automl_common.settings import read_or_create_secret

READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
# Seconds before restarting a service that died, by how many times in a row it died; a service up for
# STABLE_AFTER_S since its last start has its count reset.
RESTART_BACKOFF_S = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0)
STABLE_AFTER_S = 60.0


@dataclass(frozen=True)
class Service:
    name: str
    module: str
    env_prefix: str
    default_port: int


SERVICES = [
    Service("dataset-svc", "dataset_svc", "AUTOML_DATASET_", 8081),
    Service("snapshot-svc", "snapshot_svc", "AUTOML_SNAPSHOT_", 8082),
    Service("trainer-svc", "trainer_svc", "AUTOML_TRAINER_", 8083),
    Service("inference-svc", "inference_svc", "AUTOML_INFERENCE_", 8084),
    Service("gateway", "gateway", "AUTOML_GATEWAY_", 8080),
]


def port_of(service: Service) -> int:
    return int(os.environ.get(f"{service.env_prefix}PORT", service.default_port))


def service_env(data_dir: Path, internal_token: str) -> dict[str, str]:
    env = dict(os.environ, AUTOML_MODE="local", AUTOML_DATA_DIR=str(data_dir), AUTOML_INTERNAL_TOKEN=internal_token)
    for service in SERVICES:
        if service.name != "gateway":
            short = service.env_prefix.removeprefix("AUTOML_").removesuffix("_")
            env[f"AUTOML_GATEWAY_{short}_URL"] = f"http://127.0.0.1:{port_of(service)}"
    # Which services each one calls (besides the gateway, which calls them all).
    calls = {
        "snapshot-svc": ("dataset-svc",),
        "trainer-svc": ("snapshot-svc",),
        "inference-svc": ("dataset-svc", "snapshot-svc", "trainer-svc"),
    }
    by_name = {service.name: service for service in SERVICES}
    for caller, callees in calls.items():
        for callee in callees:
            short = by_name[callee].env_prefix.removeprefix("AUTOML_").removesuffix("_")
            env[f"{by_name[caller].env_prefix}{short}_URL"] = f"http://127.0.0.1:{port_of(by_name[callee])}"
    return env


def start(service: Service, env: dict[str, str], log_dir: Path) -> subprocess.Popen[bytes]:
    with open(log_dir / f"{service.name}.log", "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", service.module],
            env=env | {f"{service.env_prefix}PORT": str(port_of(service))},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches only us; we stop the children in order
        )


def wait_ready(processes: dict[str, subprocess.Popen[bytes]], deadline: float) -> None:
    pending = {service.name: f"http://127.0.0.1:{port_of(service)}/readyz" for service in SERVICES}
    with httpx.Client(timeout=2.0) as client:
        while pending:
            for name, url in list(pending.items()):
                if processes[name].poll() is not None:
                    raise RuntimeError(f"{name} exited with code {processes[name].returncode} while starting")
                try:
                    if client.get(url).status_code == 200:
                        del pending[name]
                except httpx.TransportError:
                    pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"not ready after {READY_TIMEOUT_S:.0f} s: {', '.join(sorted(pending))}")
            if pending:
                time.sleep(0.1)


def stop_all(processes: dict[str, subprocess.Popen[bytes]]) -> None:
    for process in processes.values():
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for process in processes.values():
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Supervised:
    """One service's process, and how often it died in a row (for the backoff before its restart)."""

    service: Service
    process: subprocess.Popen[bytes]
    started: float
    deaths_in_a_row: int = 0
    restarts: int = 0
    restart_at: float | None = None


class Supervisor:
    """Restarts a service that died (``kill -9``, a crash), after a backoff that grows while it keeps dying,
    and logs each death and restart (stderr and ``supervisor.log``); the others keep serving meanwhile."""

    def __init__(
        self,
        processes: dict[str, subprocess.Popen[bytes]],
        env: dict[str, str],
        log_dir: Path,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.env = env
        self.log_dir = log_dir
        self.clock = clock
        now = clock()
        by_name = {service.name: service for service in SERVICES}
        self.services = {name: Supervised(by_name[name], process, now) for name, process in processes.items()}

    @property
    def processes(self) -> dict[str, subprocess.Popen[bytes]]:
        return {name: supervised.process for name, supervised in self.services.items()}

    def log(self, message: str) -> None:
        line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} supervisor: {message}"
        print(line, file=sys.stderr, flush=True)
        with open(self.log_dir / "supervisor.log", "a") as log:
            log.write(line + "\n")

    def step(self) -> None:
        now = self.clock()
        for name, supervised in self.services.items():
            code = supervised.process.poll()
            if code is None:
                if supervised.deaths_in_a_row and now - supervised.started >= STABLE_AFTER_S:
                    supervised.deaths_in_a_row = 0
                continue
            if supervised.restart_at is None:
                wait = RESTART_BACKOFF_S[min(supervised.deaths_in_a_row, len(RESTART_BACKOFF_S) - 1)]
                supervised.deaths_in_a_row += 1
                supervised.restart_at = now + wait
                how = f"signal {-code}" if code < 0 else f"code {code}"
                self.log(f"{name} (pid {supervised.process.pid}) exited with {how}; restarting in {wait:.0f} s")
            elif now >= supervised.restart_at:
                supervised.process = start(supervised.service, self.env, self.log_dir)
                supervised.started, supervised.restart_at = now, None
                supervised.restarts += 1
                self.log(f"{name} restarted (pid {supervised.process.pid}, restart {supervised.restarts})")


def bootstrap(env: dict[str, str], data_dir: Path) -> dict[str, str]:
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "bootstrap", "--key-file", str(data_dir / "admin.key")],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    answer: dict[str, str] = json.loads(result.stdout)
    return answer


def key_id_of(key: str) -> str:
    """``aml_<lookup>`` of ``aml_<lookup>_<secret>``: names the key without revealing it (the secret itself
    may hold underscores)."""
    return "_".join(key.split("_", 2)[:2])


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return ""


def main() -> int:
    started = time.monotonic()
    os.umask(0o077)  # data, logs and secrets: this user's only (the services set it too)
    data_dir = Path(os.environ.get("AUTOML_DATA_DIR", ".automl")).resolve()
    log_dir = data_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    for directory in (data_dir, log_dir):  # made by an earlier, laxer run
        directory.chmod(0o700)
    internal_token = os.environ.get("AUTOML_INTERNAL_TOKEN") or read_or_create_secret(data_dir / "internal.token")
    if not os.environ.get("AUTOML_OPERATOR_KEY"):
        read_or_create_secret(data_dir / "operator.key")
    env = service_env(data_dir, internal_token)

    stopping = False

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    processes = {service.name: start(service, env, log_dir) for service in SERVICES}
    try:
        wait_ready(processes, started + READY_TIMEOUT_S)
        admin = bootstrap(env, data_dir)
    except (RuntimeError, subprocess.CalledProcessError) as error:
        print(f"make up failed: {error}", file=sys.stderr)
        for service in SERVICES:
            print(
                f"--- {service.name} ({log_dir / (service.name + '.log')}):\n{tail(log_dir / f'{service.name}.log')}",
                file=sys.stderr,
            )
        stop_all(processes)
        return 1

    gateway = next(service for service in SERVICES if service.name == "gateway")
    print(f"AutoML platform is up: {len(SERVICES)} services ready in {time.monotonic() - started:.1f} s", flush=True)
    print(f"  console:      http://127.0.0.1:{port_of(gateway)}/  (sign in with the admin key)", flush=True)
    print(f"  API:          http://127.0.0.1:{port_of(gateway)}/v1  (its documentation at /docs)", flush=True)
    # Only the key's public id is printed: whatever this output goes to (a terminal log, CI) never holds it.
    print(f"  admin key:    in {data_dir / 'admin.key'}  ({key_id_of(admin['admin_key'])}_...)", flush=True)
    print(f"  operator key: in {data_dir / 'operator.key'} (creates orgs)", flush=True)
    print(f"  logs:         {log_dir}", flush=True)
    print("Ctrl-C stops everything; a service that dies is started again.", flush=True)

    supervisor = Supervisor(processes, env, log_dir)
    while not stopping:
        supervisor.step()
        time.sleep(0.2)
    print("stopping...", flush=True)
    stop_all(supervisor.processes)
    print("stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
