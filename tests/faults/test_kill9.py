"""``kill -9`` of a service in the middle of its long work, then a restart: the work completes (or fails with a
reason), nothing is left half written, and no process of the killed one lives on as an orphan.

The five services run as separate processes, as `make up` runs them (same environment, same command), so any
one can be killed and started again while the others keep running. Each step names what it kills and when."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import pytest

from automl_common.settings import read_or_create_secret
from deploy.local import up
from tests.support.ports import free_port
from tests.support.waiting import wait_for

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Services:
    data_dir: Path
    env: dict[str, str]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def url(self, name: str) -> str:
        service = next(s for s in up.SERVICES if s.name == name)
        return f"http://127.0.0.1:{self.env[f'{service.env_prefix}PORT']}"

    def start(self, name: str) -> None:
        service = next(s for s in up.SERVICES if s.name == name)
        with open(self.data_dir / "logs" / f"{name}.log", "ab") as log:
            self.processes[name] = subprocess.Popen(
                [sys.executable, "-m", service.module],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO,
                start_new_session=True,
            )
        wait_for(lambda: _ready(self.url(name)), 90, f"{name} ready")

    def kill9(self, name: str) -> None:
        process = self.processes.pop(name)
        process.kill()
        process.wait()

    def stop_all(self) -> None:
        for process in self.processes.values():
            process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def processes_of(data_dir: Path, owner_pid: int | None = None) -> list[psutil.Process]:
    """Processes of this platform (by the data dir in their environment); with ``owner_pid``, the Ray
    processes that inference-svc process started."""
    found = []
    for process in psutil.process_iter():
        try:
            env = process.environ()
        except psutil.Error:
            continue
        if str(data_dir) not in (env.get("AUTOML_DATA_DIR"), env.get("AUTOML_WORKER_DATA_DIR")):
            continue
        if owner_pid is not None and env.get("AUTOML_RAY_OWNER", "").split("-")[0] != str(owner_pid):
            continue
        found.append(process)
    return found


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    data_dir = (tmp_path_factory.mktemp("faults") / "data").resolve()
    (data_dir / "logs").mkdir(parents=True)
    for service in up.SERVICES:
        os.environ.pop(f"{service.env_prefix}PORT", None)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOML_")}
    env["AUTOML_DATA_DIR"] = str(data_dir)
    env |= {f"{service.env_prefix}PORT": str(free_port()) for service in up.SERVICES}
    ports = dict(env)
    saved = {k: os.environ.get(k) for k in ports if k.endswith("_PORT")}
    os.environ.update({k: v for k, v in ports.items() if k.endswith("_PORT")})  # up.service_env reads them
    try:
        internal = read_or_create_secret(data_dir / "internal.token")
        read_or_create_secret(data_dir / "operator.key")
        env |= {k: v for k, v in up.service_env(data_dir, internal).items() if k.startswith("AUTOML_")}
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    env |= {
        "AUTOML_INFERENCE_REPLICA_NUM_CPUS": "0.1",
        "AUTOML_GATEWAY_IDEMPOTENCY_STALE_AFTER_S": "5",
        "AUTOML_TRAINER_WORKER_THREADS": "1",
    }
    running = Services(data_dir, env)
    try:
        for service in up.SERVICES:
            running.start(service.name)
        yield running
    finally:
        running.stop_all()
        time.sleep(1)
        left = processes_of(data_dir)
        for process in left:
            process.kill()
        assert left == [], f"processes left after stopping: {[p.cmdline()[:3] for p in left]}"


@pytest.fixture(scope="module")
def admin(services: Services) -> Iterator[httpx.Client]:
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "bootstrap", "--key-file", str(services.data_dir / "admin.key")],
        env=services.env,
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    assert "admin_key" in result.stdout
    key = (services.data_dir / "admin.key").read_text().strip()
    with httpx.Client(
        base_url=services.url("gateway"), headers={"Authorization": f"Bearer {key}"}, timeout=60
    ) as client:
        yield client


def rows_csv(count: int) -> bytes:
    lines = (
        f"message {i} win money now,spam\n" if i % 3 == 0 else f"message {i} see you at lunch,ham\n"
        for i in range(count)
    )
    return b"text,label\n" + "".join(lines).encode()


def status_of(client: httpx.Client, path: str) -> str:
    return str(client.get(path).json()["status"])


@pytest.mark.slow
def test_dataset_svc_killed_while_ingesting_finishes_the_dataset_after_restart(services, admin):
    created = admin.post("/v1/datasets", files={"file": ("big.csv", rows_csv(200_000))}, data={"name": "big"})
    assert created.status_code == 201, created.text
    dataset_id = created.json()["id"]
    time.sleep(0.5)  # mid-parse
    assert status_of(admin, f"/v1/datasets/{dataset_id}") == "processing"
    services.kill9("dataset-svc")
    services.start("dataset-svc")
    wait_for(lambda: status_of(admin, f"/v1/datasets/{dataset_id}") != "processing", 120, "dataset ingested")
    dataset = admin.get(f"/v1/datasets/{dataset_id}").json()
    assert dataset["status"] == "ready", dataset
    assert dataset["row_count"] == 200_000  # every row once: nothing from the cut-off run doubled


@pytest.mark.slow
def test_dataset_svc_killed_during_an_upload_keeps_nothing_of_it(services, admin):
    store_root = services.data_dir / "objects"
    before = {path for path in store_root.rglob("*") if path.is_file()}

    import threading

    killer = threading.Timer(0.5, services.kill9, args=("dataset-svc",))
    killer.start()
    with pytest.raises(httpx.HTTPError):  # the gateway's 502/503, or the connection cut while sending
        admin.post("/v1/datasets", content=multipart(500_000, pause_s=0.02), headers=MULTIPART).raise_for_status()
    killer.join()
    services.start("dataset-svc")
    listed = admin.get("/v1/datasets").json()["items"]
    assert all(item["name"] != "cut" for item in listed)
    after = {path for path in store_root.rglob("*") if path.is_file()}
    assert after - before == set(), f"left in the store: {sorted(map(str, after - before))[:5]}"


def ready_snapshot(admin: httpx.Client, rows: int) -> str:
    created = admin.post("/v1/datasets", files={"file": ("d.csv", rows_csv(rows))}, data={"name": "d"})
    dataset_id = created.json()["id"]
    wait_for(lambda: status_of(admin, f"/v1/datasets/{dataset_id}") == "ready", 120, "dataset")
    mapping = {"columns": {"text": "text", "label": "label"}}
    assert admin.put(f"/v1/datasets/{dataset_id}/columns", json=mapping).status_code == 200
    snapshot = admin.post(
        "/v1/snapshots",
        json={
            "dataset_id": dataset_id,
            "name": "s",
            "type": "text_classification",
            "input_column": "text",
            "heads": [{"column": "label"}],
        },
    )
    assert snapshot.status_code == 201, snapshot.text
    return str(snapshot.json()["id"])


@pytest.mark.slow
def test_snapshot_svc_killed_while_building_finishes_the_snapshot_after_restart(services, admin):
    snapshot_id = ready_snapshot(admin, 150_000)
    time.sleep(0.3)
    assert status_of(admin, f"/v1/snapshots/{snapshot_id}") == "creating"
    services.kill9("snapshot-svc")
    services.start("snapshot-svc")
    wait_for(lambda: status_of(admin, f"/v1/snapshots/{snapshot_id}") != "creating", 180, "snapshot built")
    snapshot = admin.get(f"/v1/snapshots/{snapshot_id}").json()
    assert snapshot["status"] == "ready", snapshot
    assert snapshot["row_count"] == 150_000


@pytest.mark.slow
def test_trainer_killed_while_training_and_inference_killed_while_deploying(services, admin):
    snapshot_id = ready_snapshot(admin, 300)
    wait_for(lambda: status_of(admin, f"/v1/snapshots/{snapshot_id}") == "ready", 60, "snapshot")
    request = {
        "name": "m",
        "base_model": "minilm-l6",
        "method": "last_layer",
        "train_snapshot_id": snapshot_id,
        "test_split_pct": 25,
        "options": {"max_epochs": 30},
    }
    # A create whose gateway dies before answering: its retry with the same key after the restart makes
    # exactly one model.
    model = admin.post("/v1/models", json=request, headers={"Idempotency-Key": "train-1"})
    assert model.status_code == 201, model.text
    model_id = model.json()["id"]
    wait_for(lambda: status_of(admin, f"/v1/models/{model_id}") == "running", 120, "training started")
    services.kill9("trainer-svc")
    workers = [p for p in processes_of(services.data_dir) if "trainer_svc.worker" in " ".join(p.cmdline())]
    assert workers, "the worker runs on while trainer-svc is down"
    services.start("trainer-svc")
    wait_for(
        lambda: status_of(admin, f"/v1/models/{model_id}") in ("succeeded", "failed", "cancelled"), 300, "training"
    )
    assert status_of(admin, f"/v1/models/{model_id}") == "succeeded", admin.get(f"/v1/models/{model_id}").json()
    retried = admin.post("/v1/models", json=request, headers={"Idempotency-Key": "train-1"})
    assert retried.status_code == 201 and retried.json()["id"] == model_id
    assert [m["id"] for m in admin.get("/v1/models").json()["items"]] == [model_id]

    deployment = admin.post("/v1/deployments", json={"model_id": model_id, "name": "d"})
    assert deployment.status_code == 201, deployment.text
    deployment_id = deployment.json()["id"]
    first_inference = services.processes["inference-svc"].pid
    time.sleep(1.0)  # Ray is placing the replica
    services.kill9("inference-svc")
    services.start("inference-svc")
    # The Ray the killed inference-svc started is gone (swept by its successor), and the deployment is made
    # again on the new one.
    wait_for(lambda: not processes_of(services.data_dir, first_inference), 30, "the old Ray gone")
    wait_for(lambda: status_of(admin, f"/v1/deployments/{deployment_id}") != "deploying", 180, "deployed")
    assert status_of(admin, f"/v1/deployments/{deployment_id}") == "ready"
    predicted = admin.post(f"/v1/deployments/{deployment_id}/predict", json={"inputs": ["win money now"]})
    assert predicted.status_code == 200, predicted.text

    # A batch prediction running when inference-svc is killed starts over after the restart and completes;
    # its results are whole (one line per row) and nothing of the cut-off run is left in the store.
    batch_snapshot = ready_snapshot(admin, 1500)
    wait_for(lambda: status_of(admin, f"/v1/snapshots/{batch_snapshot}") == "ready", 120, "batch snapshot")
    batch = admin.post("/v1/batch-predictions", json={"deployment_id": deployment_id, "snapshot_id": batch_snapshot})
    assert batch.status_code == 202, batch.text
    batch_id = batch.json()["id"]

    def rows_done() -> int:
        return int(admin.get(f"/v1/batch-predictions/{batch_id}").json()["progress"]["rows_done"])

    wait_for(lambda: rows_done() > 0, 120, "batch running")
    services.kill9("inference-svc")
    services.start("inference-svc")
    wait_for(
        lambda: status_of(admin, f"/v1/batch-predictions/{batch_id}") in ("succeeded", "failed"), 300, "batch done"
    )
    finished = admin.get(f"/v1/batch-predictions/{batch_id}").json()
    assert finished["status"] == "succeeded", finished
    results = admin.get(f"/v1/batch-predictions/{batch_id}/results")
    assert results.status_code == 200
    assert len(results.text.strip().splitlines()) == 1500


def multipart(rows: int, pause_s: float = 0.0) -> Iterator[bytes]:
    """One CSV file part, in pieces (``pause_s`` between them: an upload still running when something dies)."""
    yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="cut.csv"\r\n\r\ntext,label\n'
    for _ in range(rows // 10_000):
        yield b"a row,ham\n" * 10_000
        if pause_s:
            time.sleep(pause_s)
    yield b"\r\n--b--\r\n"


MULTIPART = {"Content-Type": "multipart/form-data; boundary=b"}


@pytest.mark.slow
def test_gateway_killed_during_a_create_the_retry_makes_one(services, admin):
    import threading

    key = {"Idempotency-Key": "upload-g"}
    before = len(admin.get("/v1/datasets", params={"limit": 500}).json()["items"])

    def upload() -> None:
        with contextlib.suppress(httpx.HTTPError):
            admin.post("/v1/datasets", content=multipart(500_000, pause_s=0.02), headers=MULTIPART | key)

    uploader = threading.Thread(target=upload)
    uploader.start()
    time.sleep(0.5)  # mid-upload: the gateway holds an in-progress record for the key
    services.kill9("gateway")
    uploader.join()
    services.start("gateway")
    time.sleep(6)  # the cut-off record goes stale (AUTOML_GATEWAY_IDEMPOTENCY_STALE_AFTER_S=5)
    retried = admin.post("/v1/datasets", content=b"".join(multipart(500_000)), headers=MULTIPART | key)
    assert retried.status_code == 201, retried.text
    again = admin.post("/v1/datasets", content=b"".join(multipart(500_000)), headers=MULTIPART | key)
    assert again.status_code == 201 and again.json()["id"] == retried.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    after = admin.get("/v1/datasets", params={"limit": 500}).json()["items"]
    assert len(after) == before + 1  # the cut-off upload left nothing; the retry made one
