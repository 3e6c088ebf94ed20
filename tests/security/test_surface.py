"""The attack surface of `make up` as a whole: what listens, what each process holds, what is written where.

One platform for the module, as `make up` runs it (five services, a real training worker on MiniLM, a real
local Ray with a deployed replica). Every process of it is found by its environment (the data dir, which
services, Ray's processes and workers inherit), not by name, so a process nobody expected is checked too."""

from __future__ import annotations

import ipaddress
import os
import signal
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest

from tests.support.journey import walk_the_journey
from tests.support.ports import free_port
from tests.support.waiting import wait_for

PREFIXES = ["AUTOML_GATEWAY_", "AUTOML_DATASET_", "AUTOML_SNAPSHOT_", "AUTOML_TRAINER_", "AUTOML_INFERENCE_"]


@dataclass
class Seen:
    """What the module saw while the platform ran."""

    data_dir: Path
    gateway: str
    admin_key: str
    internal_token: str
    operator_key: str
    worker_environs: dict[int, dict[str, str]]
    ray_environs: dict[int, dict[str, str]]
    listening: list[tuple[int, str, str, int]]  # pid, process name, address, port
    stop_output: str
    left_after_stop: list[str]


def environ_of(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    pairs = (entry.split(b"=", 1) for entry in raw.split(b"\0") if b"=" in entry)
    return {key.decode(errors="replace"): value.decode(errors="replace") for key, value in pairs}


def platform_processes(data_dir: Path) -> dict[int, dict[str, str]]:
    """Every process whose environment names this data dir (services, Ray, workers)."""
    marks = {str(data_dir)}
    found = {}
    for process in psutil.process_iter():
        env = environ_of(process.pid)
        if env.get("AUTOML_DATA_DIR") in marks or env.get("AUTOML_WORKER_DATA_DIR") in marks:
            found[process.pid] = env
    return found


def name_of(pid: int) -> str:
    try:
        return " ".join(psutil.Process(pid).cmdline())[:120]
    except psutil.Error:
        return "?"


@pytest.fixture(scope="module")
def seen(tmp_path_factory: pytest.TempPathFactory) -> Seen:
    data_dir = (tmp_path_factory.mktemp("surface") / "data").resolve()
    ports = {prefix: free_port() for prefix in PREFIXES}
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOML_")}
    env |= {f"{prefix}PORT": str(port) for prefix, port in ports.items()}
    env["AUTOML_DATA_DIR"] = str(data_dir)
    env["AUTOML_INFERENCE_REPLICA_NUM_CPUS"] = "0.1"
    repo_root = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(
        [sys.executable, "-m", "deploy.local.up"],
        cwd=repo_root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    output = []
    for line in process.stdout:
        output.append(line)
        if line.startswith("Ctrl-C") or "make up failed" in line:
            break
    assert "services ready" in "".join(output), "".join(output)
    gateway = f"http://127.0.0.1:{ports['AUTOML_GATEWAY_']}"
    admin_key = (data_dir / "admin.key").read_text().strip()
    worker_environs: dict[int, dict[str, str]] = {}
    ray_environs: dict[int, dict[str, str]] = {}
    listening: list[tuple[int, str, str, int]] = []
    try:
        snapshot_id = walk_the_journey(gateway, admin_key)
        with httpx.Client(base_url=gateway, headers={"Authorization": f"Bearer {admin_key}"}, timeout=60) as client:
            model = client.post(
                "/v1/models",
                json={
                    "name": "surface",
                    "base_model": "minilm-l6",
                    "method": "full",
                    "train_snapshot_id": snapshot_id,
                    "test_split_pct": 25,
                    "options": {"max_epochs": 1},
                },
            )
            assert model.status_code == 201, model.text
            model_id = model.json()["id"]

            def workers() -> dict[int, dict[str, str]]:
                return {
                    pid: env
                    for pid, env in platform_processes(data_dir).items()
                    if "AUTOML_WORKER_DATA_DIR" in env and "trainer_svc.worker" in name_of(pid)
                }

            worker_environs = wait_for(workers, 120, "no training worker started")
            listening += sockets_of(worker_environs)
            wait_for(lambda: client.get(f"/v1/models/{model_id}").json()["status"] == "succeeded", 300, "training")

            deployment = client.post("/v1/deployments", json={"model_id": model_id, "name": "surface"})
            assert deployment.status_code == 201, deployment.text
            deployment_id = deployment.json()["id"]
            wait_for(
                lambda: client.get(f"/v1/deployments/{deployment_id}").json()["status"] == "ready", 180, "deployment"
            )
            predicted = client.post(f"/v1/deployments/{deployment_id}/predict", json={"inputs": ["message 3"]})
            assert predicted.status_code == 200, predicted.text
            processes = platform_processes(data_dir)
            # Ray's own processes, those that live: a helper it starts and ends within a moment (one CI run in
            # several caught one, gone before it could even be named) serves nothing and listens on nothing
            # (every listening socket is checked below, whatever the process).
            time.sleep(1.0)
            lasting = platform_processes(data_dir)
            ray_environs = {pid: env for pid, env in processes.items() if "AUTOML_RAY_OWNER" in env and pid in lasting}
            listening += sockets_of(processes)
    finally:
        process.send_signal(signal.SIGINT)
        remaining, _ = process.communicate(timeout=60)
    time.sleep(1.0)
    left = [f"{pid} {name_of(pid)}" for pid in platform_processes(data_dir)]
    return Seen(
        data_dir=data_dir,
        gateway=gateway,
        admin_key=admin_key,
        internal_token=(data_dir / "internal.token").read_text().strip(),
        operator_key=(data_dir / "operator.key").read_text().strip(),
        worker_environs=worker_environs,
        ray_environs=ray_environs,
        listening=listening,
        stop_output="".join(output) + remaining,
        left_after_stop=left,
    )


def is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def sockets_of(processes: dict[int, dict[str, str]]) -> list[tuple[int, str, str, int]]:
    found = []
    for connection in psutil.net_connections("inet"):
        if connection.status == psutil.CONN_LISTEN and connection.pid in processes:
            found.append((connection.pid, name_of(connection.pid), connection.laddr.ip, connection.laddr.port))
    return found


@pytest.mark.slow
def test_every_socket_of_every_platform_process_is_on_loopback(seen: Seen):
    pids = {pid for pid, *_ in seen.listening}
    assert len(pids) >= 7, seen.listening  # five services, Ray's own processes and the replica at least
    exposed = [entry for entry in seen.listening if not is_loopback(entry[2])]
    assert exposed == [], exposed


@pytest.mark.slow
def test_no_worker_or_ray_process_holds_a_platform_secret(seen: Seen):
    assert seen.worker_environs, "the training worker was not seen"
    assert any("ServeReplica" in name_of(pid) or env for pid, env in seen.ray_environs.items())
    assert len(seen.ray_environs) >= 3, "Ray's processes were not seen"
    secrets = {"internal token": seen.internal_token, "operator key": seen.operator_key, "admin key": seen.admin_key}
    for kind, environs in (("worker", seen.worker_environs), ("Ray", seen.ray_environs)):
        for pid, env in environs.items():
            for what, secret in secrets.items():
                holders = [name for name, value in env.items() if secret in value]
                assert holders == [], f"{kind} process {pid} holds the {what} in {holders}"
            assert not [name for name in env if name.startswith("AUTOML_") and "TOKEN" in name], (kind, pid)


@pytest.mark.slow
def test_the_local_ray_requires_this_platforms_token(seen: Seen):
    token_path = str(seen.data_dir / "ray.token")
    for pid, env in seen.ray_environs.items():
        assert env.get("RAY_AUTH_MODE") == "token", (pid, name_of(pid))
        assert env.get("RAY_AUTH_TOKEN_PATH") == token_path, pid
        assert "RAY_AUTH_TOKEN" not in env, pid  # the path travels, not the token
    assert oct((seen.data_dir / "ray.token").stat().st_mode & 0o777) == "0o600"


@pytest.mark.slow
def test_no_log_or_output_holds_a_key(seen: Seen):
    assert seen.admin_key.split("_", 2)[2][:8] not in seen.stop_output  # not even the start of its secret
    for path in (seen.data_dir / "logs").rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            for secret in (seen.admin_key, seen.internal_token, seen.operator_key):
                assert secret not in text, f"{path} holds a secret"


@pytest.mark.slow
def test_data_files_are_private_to_their_user(seen: Seen):
    readable = []
    for path in [seen.data_dir, *seen.data_dir.rglob("*")]:
        if path.is_symlink():
            continue
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            readable.append(f"{oct(mode & 0o777)} {path.relative_to(seen.data_dir)}")
    assert readable == [], readable[:20]


@pytest.mark.slow
def test_stopping_leaves_no_process_behind(seen: Seen):
    assert "stopped." in seen.stop_output
    assert seen.left_after_stop == []
