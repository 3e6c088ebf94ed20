"""The four domain services start, migrate, answer health/readiness/metrics, and refuse calls without the
internal token. (The gateway is tested in tests/services/gateway.)"""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path

import httpx
import pytest

from automl_common.storage import FilesystemStore
from tests.conftest import service_env
from tests.support.api import INTERNAL_TOKEN

SERVICES = ["dataset_svc", "snapshot_svc", "trainer_svc", "inference_svc"]


async def started(package: str, tmp_path: Path, database_url: str, **overrides):
    app_module = importlib.import_module(f"{package}.app")
    settings_module = importlib.import_module(f"{package}.settings")
    settings_class = next(
        value
        for name, value in vars(settings_module).items()
        if name.endswith("Settings") and name != "ServiceSettings"
    )
    settings = settings_class(**service_env(tmp_path, database_url, **overrides))
    app = app_module.create_app(settings, store=FilesystemStore(tmp_path / "objects"))
    return app


@pytest.mark.parametrize("package", SERVICES)
async def test_health_readiness_metrics_and_internal_token(package, tmp_path, database_url):
    app = await started(package, tmp_path, database_url)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://svc") as client,
    ):
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        ready = await client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["checks"] == {"database": "ok", "object_store": "ok"}

        for path in ("/v1/anything", "/openapi.json", "/docs"):
            refused = await client.get(path)
            assert refused.status_code == 401, path
            assert refused.json()["error"] == "Unauthorized"
            wrong = await client.get(path, headers={"X-Internal-Token": "nope"})
            assert wrong.status_code == 401

        unknown = await client.get("/v1/unknown", headers={"X-Internal-Token": INTERNAL_TOKEN})
        assert unknown.status_code == 404
        assert unknown.json()["error"] == "NotFound"

        metrics = (await client.get("/metrics")).text
        service_name = app.state.settings.service_name
        assert (
            f'automl_http_requests_total{{method="GET",route="<unmatched>",service="{service_name}",status="401"}}'
            in metrics
        )
        assert "automl_http_request_duration_seconds_bucket" in metrics
        assert "automl_http_requests_in_flight" in metrics


async def test_readiness_fails_when_the_store_is_gone(tmp_path, database_url):
    app = await started("dataset_svc", tmp_path, database_url)
    async with app.router.lifespan_context(app):
        shutil.rmtree(tmp_path / "objects")
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc") as client:
            ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["error"] == "ServiceUnavailable"
    assert "object_store" in ready.json()["detail"]


async def test_readiness_fails_when_the_database_is_unreachable(tmp_path):
    app = await started("dataset_svc", tmp_path, "sqlite+aiosqlite:///" + str(tmp_path / "db.sqlite"))
    async with app.router.lifespan_context(app):

        async def broken() -> None:
            raise ConnectionError("database is down")

        app.state.readiness_checks["database"] = broken
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc") as client:
            ready = await client.get("/readyz")
    assert ready.status_code == 503
    body = ready.json()
    assert body["error"] == "ServiceUnavailable"
    assert "database" in body["detail"] and "database is down" in body["detail"]


def test_cluster_mode_refuses_default_secrets(tmp_path):
    from dataset_svc.settings import DatasetSettings
    from gateway.settings import GatewaySettings

    with pytest.raises(ValueError, match="internal_token"):
        DatasetSettings(mode="cluster", database_url="postgresql+asyncpg://x/y")
    with pytest.raises(ValueError, match="operator_key"):
        GatewaySettings(mode="cluster", database_url="postgresql+asyncpg://x/y", internal_token="t" * 40)
    with pytest.raises(ValueError, match="console_secret"):
        GatewaySettings(
            mode="cluster", database_url="postgresql+asyncpg://x/y", internal_token="t" * 40, operator_key="o" * 40
        )
    gateway = GatewaySettings(
        mode="cluster",
        database_url="postgresql+asyncpg://x/y",
        internal_token="t" * 40,
        operator_key="o" * 40,
        console_secret="c" * 40,
    )
    assert gateway.resolved_console_secret() == "c" * 40
    ok = DatasetSettings(mode="cluster", database_url="postgresql+asyncpg://x/y", internal_token="t" * 40)
    assert ok.resolved_store_backend == "s3"
