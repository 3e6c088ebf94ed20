"""`make up` keeps the platform up: each of the five services is killed with ``kill -9`` in turn, while a model
trains and a deployment answers; each comes back by itself (the supervisor restarts it), the others keep
serving meanwhile, nothing stored is lost, the training run finishes and predictions resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from deploy.local import up
from tests.faults.test_kill9 import rows_csv, status_of
from tests.support.ports import free_port
from tests.support.waiting import wait_for

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


class MakeUp:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.ports = {service.name: free_port() for service in up.SERVICES}
        env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOML_")}
        env |= {f"{service.env_prefix}PORT": str(self.ports[service.name]) for service in up.SERVICES}
        env |= {
            "AUTOML_DATA_DIR": str(data_dir),
            "AUTOML_INFERENCE_REPLICA_NUM_CPUS": "0.1",
            "AUTOML_TRAINER_WORKER_THREADS": "1",
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "deploy.local.up"],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith("Ctrl-C"):
                break
        else:
            raise AssertionError("make up did not start")

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def pid_of(self, name: str) -> int:
        module = next(service.module for service in up.SERVICES if service.name == name)
        for child in psutil.Process(self.process.pid).children():
            if child.cmdline()[-2:] == ["-m", module]:
                return int(child.pid)
        raise AssertionError(f"no {name} process")

    def ready(self, name: str) -> bool:
        try:
            return httpx.get(f"{self.url(name)}/readyz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def stop(self) -> str:
        self.process.send_signal(signal.SIGINT)
        rest, _ = self.process.communicate(timeout=60)
        return rest


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MakeUp]:
    running = MakeUp((tmp_path_factory.mktemp("supervised") / "data").resolve())
    try:
        yield running
    finally:
        output = running.stop()
        assert "stopped." in output, output


def test_every_service_killed_in_turn_comes_back_and_the_work_goes_on(platform: MakeUp) -> None:
    key = (platform.data_dir / "admin.key").read_text().strip()
    client = httpx.Client(base_url=platform.url("gateway"), headers={"Authorization": f"Bearer {key}"}, timeout=60)

    def call(method: str, path: str, **kwargs: object) -> httpx.Response:
        """Through the gateway; while the gateway itself is being restarted, again until it answers."""
        for _ in range(120):
            try:
                return client.request(method, path, **kwargs)  # type: ignore[arg-type]
            except httpx.TransportError:
                time.sleep(0.5)
        raise AssertionError(f"{method} {path}: the gateway never came back")

    created = call("POST", "/v1/datasets", files={"file": ("sms.csv", rows_csv(200))}, data={"name": "sms"})
    assert created.status_code == 201, created.text
    dataset_id = created.json()["id"]
    wait_for(lambda: status_of(client, f"/v1/datasets/{dataset_id}") == "ready", 60, "dataset")
    assert call("PUT", f"/v1/datasets/{dataset_id}/columns", json={"columns": {"text": "text"}}).status_code == 200
    body = {"dataset_id": dataset_id, "name": "s", "type": "text_classification", "input_column": "text"}
    snapshot = call("POST", "/v1/snapshots", json=body | {"heads": [{"column": "label"}]})
    snapshot_id = snapshot.json()["id"]
    wait_for(lambda: status_of(client, f"/v1/snapshots/{snapshot_id}") == "ready", 60, "snapshot")
    request = {
        "name": "first",
        "base_model": "minilm-l6",
        "method": "last_layer",
        "train_snapshot_id": snapshot_id,
        "test_split_pct": 25,
        "options": {"max_epochs": 20},
    }
    first = call("POST", "/v1/models", json=request).json()["id"]
    wait_for(lambda: status_of(client, f"/v1/models/{first}") == "succeeded", 180, "first model")
    deployment = call("POST", "/v1/deployments", json={"model_id": first, "name": "d"}).json()["id"]
    wait_for(lambda: status_of(client, f"/v1/deployments/{deployment}") == "ready", 180, "deployment")

    def predicts() -> bool:
        answer = call("POST", f"/v1/deployments/{deployment}/predict", json={"inputs": ["win money now"]})
        return answer.status_code == 200

    assert predicts()
    second = call("POST", "/v1/models", json=request | {"name": "second", "options": {"max_epochs": 300}}).json()
    wait_for(lambda: status_of(client, f"/v1/models/{second['id']}") == "running", 120, "second model running")
    counts = {path: len(call("GET", path).json()["items"]) for path in ("/v1/datasets", "/v1/snapshots", "/v1/models")}

    for name in ("trainer-svc", "inference-svc", "dataset-svc", "snapshot-svc", "gateway"):
        killed = platform.pid_of(name)
        os.kill(killed, signal.SIGKILL)
        if name != "gateway":  # the others serve meanwhile
            assert call("GET", "/v1/orgs/me").status_code == 200, name

        def back(name: str = name, killed: int = killed) -> bool:
            return platform.ready(name) and platform.pid_of(name) != killed

        wait_for(back, 120, f"{name} back")
        wait_for(predicts, 180, f"predictions after {name} came back")

    wait_for(
        lambda: status_of(client, f"/v1/models/{second['id']}") in ("succeeded", "failed", "cancelled"),
        300,
        "the second run",
    )
    assert status_of(client, f"/v1/models/{second['id']}") == "succeeded"
    for path, count in counts.items():
        assert len(call("GET", path).json()["items"]) == count, path
    log = (platform.data_dir / "logs" / "supervisor.log").read_text()
    for service in up.SERVICES:
        assert f"{service.name} restarted" in log, log
    client.close()
