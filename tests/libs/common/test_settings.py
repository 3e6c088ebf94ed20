from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from automl_common.settings import read_or_create_secret
from dataset_svc.settings import DatasetSettings
from gateway.settings import GatewaySettings


def test_service_prefix_wins_over_the_shared_prefix(monkeypatch, tmp_path):
    monkeypatch.setenv("AUTOML_DATA_DIR", str(tmp_path / "shared"))
    monkeypatch.setenv("AUTOML_LOG_LEVEL", "WARNING")
    monkeypatch.setenv("AUTOML_DATASET_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("AUTOML_GATEWAY_PORT", "9999")
    dataset = DatasetSettings()
    gateway = GatewaySettings()
    assert dataset.data_dir == tmp_path / "shared"
    assert gateway.data_dir == tmp_path / "shared"
    assert dataset.log_level == "DEBUG"
    assert gateway.log_level == "WARNING"
    assert gateway.listen_port == 9999
    assert dataset.listen_port == 8081


def test_local_defaults_are_sqlite_and_filesystem_under_the_data_dir(tmp_path):
    settings = DatasetSettings(data_dir=tmp_path)
    assert settings.resolved_database_url == f"sqlite+aiosqlite:///{tmp_path.resolve() / 'dataset-svc.db'}"
    assert settings.resolved_store_backend == "filesystem"
    assert settings.resolved_store_root == (tmp_path / "objects").resolve()


def test_invalid_values_are_refused_at_start_up(monkeypatch):
    monkeypatch.setenv("AUTOML_GATEWAY_RATE_LIMIT_BURST", "0")
    with pytest.raises(ValueError, match="rate_limit_burst"):
        GatewaySettings()


def test_local_mode_generates_one_shared_secret(tmp_path):
    path = tmp_path / "internal.token"
    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(read_or_create_secret(path))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 1
    assert len(results[0]) >= 32
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert [p.name for p in tmp_path.iterdir()] == ["internal.token"]
    assert DatasetSettings(data_dir=tmp_path).resolved_internal_token() == results[0]


def test_extra_routes_parse_from_json(monkeypatch):
    monkeypatch.setenv("AUTOML_GATEWAY_EXTRA_ROUTES", '{"/v1/echo": "http://127.0.0.1:1"}')
    routes = GatewaySettings().routes()
    assert routes["/v1/echo"] == ("v1-echo", "http://127.0.0.1:1")
    assert routes["/v1/datasets"][0] == "dataset-svc"


def test_environment_is_clean_of_test_leaks():
    # Guards the tests above: monkeypatch must have restored the environment.
    assert "AUTOML_DATASET_LOG_LEVEL" not in os.environ
    assert Path(".").exists()
