"""The platform as real servers on loopback: the gateway in front of the domain services, each on its own
uvicorn server and database, for tests that go through the public API."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from automl_common.storage import ObjectStore
from tests.support.api import OPERATOR_KEY, bearer
from tests.support.ports import free_port
from tests.support.servers import running_server

# Small and quick: one torch thread per worker (two cores here), a fast dispatcher, a short kill grace.
TRAINER_TEST_DEFAULTS: dict[str, Any] = {
    "worker_threads": 1,
    "dispatch_interval_s": 0.2,
    "cancel_grace_s": 3.0,
    "max_concurrent_jobs": 2,
}


def delete_serve_apps(prefix: str) -> None:
    """Delete (without waiting) every Serve app of the process's Ray whose name starts with ``prefix``."""
    import ray
    from ray import serve
    from ray.serve.context import _get_global_client

    if not ray.is_initialized():
        return
    client = _get_global_client(raise_if_no_controller_running=False)
    if client is None:
        return
    names = [name for name in client.get_serve_details().get("applications", {}) if name.startswith(prefix)]
    for name in names:
        serve.delete(name, _blocking=False)


# One local Ray per test process (inference-svc starts it on first use); replicas small, scaling quick.
INFERENCE_TEST_DEFAULTS: dict[str, Any] = {
    "ray_num_cpus": 2,
    "ray_stop_on_shutdown": False,  # the next platform of this test process uses the same Ray
    "replica_num_cpus": 0.1,
    "upscale_delay_s": 0.5,
    "downscale_delay_s": 3.0,
    "reconcile_interval_s": 0.3,
    "callback_backoff_s": 0.2,
    # The tests of one deployment's own replicas (scaling, batching, failures) deploy last-layer classifiers:
    # here such a deployment gets its own replicas unless it asks to share; test_shared_heads turns the
    # platform's default (shared) back on and tests it.
    "share_classifiers_by_default": False,
}


@dataclass
class Platform:
    gateway_url: str
    service_urls: dict[str, str]
    apps: dict[str, Any] = field(default_factory=dict)

    def org(self, name: str) -> OrgClient:
        created = httpx.post(f"{self.gateway_url}/v1/orgs", json={"name": name}, headers=bearer(OPERATOR_KEY))
        assert created.status_code == 201, created.text
        body = created.json()
        return OrgClient(self.gateway_url, body["id"], body["admin_key"])


class OrgClient(httpx.AsyncClient):
    """An httpx client for one org, authenticated with its admin key."""

    def __init__(self, gateway_url: str, org_id: str, admin_key: str) -> None:
        super().__init__(base_url=gateway_url, headers=bearer(admin_key), timeout=60)
        self.org_id = org_id
        self.admin_key = admin_key

    async def upload(self, filename: str, content: bytes, name: str | None = None, **extra: Any) -> httpx.Response:
        data = {"name": name} if name is not None else {}
        return await self.post("/v1/datasets", files={"file": (filename, content)}, data=data, **extra)

    async def wait_while(self, path: str, pending: str, timeout_s: float = 60) -> dict[str, Any]:
        """GET ``path`` until its ``status`` is no longer ``pending``; return the last answer."""
        deadline = time.monotonic() + timeout_s
        while True:
            response = await self.get(path)
            assert response.status_code == 200, response.text
            body: dict[str, Any] = response.json()
            if body["status"] != pending:
                return body
            if time.monotonic() > deadline:
                raise TimeoutError(f"{path} still {pending}: {body}")
            await asyncio.sleep(0.05)

    async def wait_dataset(self, dataset_id: str, timeout_s: float = 60) -> dict[str, Any]:
        return await self.wait_while(f"/v1/datasets/{dataset_id}", "processing", timeout_s)

    async def wait_snapshot(self, snapshot_id: str, timeout_s: float = 60) -> dict[str, Any]:
        return await self.wait_while(f"/v1/snapshots/{snapshot_id}", "creating", timeout_s)

    async def rows(self, dataset_id: str, **params: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor = None
        while True:
            query = {"limit": 500, **params} | ({"after": cursor} if cursor else {})
            page = (await self.get(f"/v1/datasets/{dataset_id}/rows", params=query)).json()
            items.extend(page["items"])
            cursor = page["next"]
            if cursor is None:
                return items


@contextmanager
def run_platform(
    tmp_path: Path,
    database_url_for: dict[str, str],
    *,
    store: ObjectStore | None = None,
    dataset_overrides: dict[str, Any] | None = None,
    dataset_url_policy: Any = None,
    gateway_overrides: dict[str, Any] | None = None,
    snapshot_overrides: dict[str, Any] | None = None,
    trainer_overrides: dict[str, Any] | None = None,
    trainer_backend: Any = None,
    inference_overrides: dict[str, Any] | None = None,
) -> Iterator[Platform]:
    """``trainer_overrides`` not None: trainer-svc too, its workers as real subprocesses. Without an injected
    ``store`` the services then share one filesystem store, as they share a bucket on a cluster.
    ``trainer_backend``: a job backend for trainer-svc instead of the one its settings make.
    ``inference_overrides`` not None (with trainer-svc): inference-svc too, on the process's one local Ray."""
    from dataset_svc.app import create_app as create_dataset_app
    from dataset_svc.settings import DatasetSettings
    from gateway.app import create_app as create_gateway_app
    from gateway.settings import GatewaySettings
    from snapshot_svc.app import create_app as create_snapshot_app
    from snapshot_svc.settings import SnapshotSettings
    from tests.conftest import service_env

    shared_store: dict[str, Any] = {}
    if trainer_overrides is not None and store is None:
        shared_store["store_root"] = tmp_path / "objects"
    with ExitStack() as stack:
        dataset_settings = DatasetSettings(
            **service_env(
                tmp_path / "dataset", database_url_for["dataset"], **shared_store, **(dataset_overrides or {})
            )
        )
        dataset_app = create_dataset_app(dataset_settings, store=store, url_policy=dataset_url_policy)
        dataset_url = stack.enter_context(running_server(dataset_app))
        snapshot_settings = SnapshotSettings(
            **service_env(
                tmp_path / "snapshot",
                database_url_for.get("snapshot", database_url_for["dataset"]),
                dataset_url=dataset_url,
                **shared_store,
                **(snapshot_overrides or {}),
            )
        )
        snapshot_app = create_snapshot_app(snapshot_settings, store=store)
        snapshot_url = stack.enter_context(running_server(snapshot_app))
        service_urls = {"dataset": dataset_url, "snapshot": snapshot_url}
        apps: dict[str, Any] = {"dataset": dataset_app, "snapshot": snapshot_app}
        if trainer_overrides is not None:
            from trainer_svc.app import create_app as create_trainer_app
            from trainer_svc.settings import TrainerSettings

            port = free_port()
            trainer_settings = TrainerSettings(
                **service_env(
                    tmp_path / "trainer",
                    database_url_for.get("trainer", database_url_for["dataset"]),
                    snapshot_url=snapshot_url,
                    port=port,
                    public_url=f"http://127.0.0.1:{port}",
                    **shared_store,
                    **{**TRAINER_TEST_DEFAULTS, **trainer_overrides},
                )
            )
            apps["trainer"] = create_trainer_app(trainer_settings, store=store, backend=trainer_backend)
            service_urls["trainer"] = stack.enter_context(running_server(apps["trainer"], port))
        if inference_overrides is not None:
            from inference_svc.app import create_app as create_inference_app
            from inference_svc.settings import InferenceSettings

            inference_settings = InferenceSettings(
                **service_env(
                    tmp_path / "inference",
                    database_url_for.get("inference", database_url_for["dataset"]),
                    trainer_url=service_urls["trainer"],
                    snapshot_url=snapshot_url,
                    dataset_url=dataset_url,
                    # Serve apps live as long as the Ray cluster: a prefix per platform keeps tests apart.
                    serve_app_prefix=f"t{uuid.uuid4().hex[:10]}",
                    **shared_store,
                    **{**INFERENCE_TEST_DEFAULTS, **inference_overrides},
                )
            )
            apps["inference"] = create_inference_app(inference_settings, store=store)
            # Runs once the server has stopped: this platform's Serve apps go, so that the replicas left by one
            # test module do not hold the shared Ray's CPUs that the next module's replicas wait for.
            stack.callback(delete_serve_apps, inference_settings.serve_app_prefix)
            service_urls["inference"] = stack.enter_context(running_server(apps["inference"], timeout_s=120))
        gateway_settings = GatewaySettings(
            **service_env(
                tmp_path / "gateway",
                database_url_for["gateway"],
                operator_key=OPERATOR_KEY,
                dataset_url=dataset_url,
                snapshot_url=snapshot_url,
                trainer_url=service_urls.get("trainer", "http://127.0.0.1:9"),
                inference_url=service_urls.get("inference", "http://127.0.0.1:9"),
                **(gateway_overrides or {}),
            )
        )
        apps["gateway"] = create_gateway_app(gateway_settings)
        gateway_url = stack.enter_context(running_server(apps["gateway"]))
        yield Platform(gateway_url, service_urls, apps)
