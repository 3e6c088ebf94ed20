"""`make up` (deploy/local/up.py) brings all five services to ready, hands out a working admin key, and
stops everything cleanly on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.journey import walk_the_journey
from tests.support.ports import free_port

PREFIXES = ["AUTOML_GATEWAY_", "AUTOML_DATASET_", "AUTOML_SNAPSHOT_", "AUTOML_TRAINER_", "AUTOML_INFERENCE_"]


@pytest.mark.slow
def test_make_up_starts_all_services_and_stops_them_on_ctrl_c(tmp_path: Path):
    ports = {prefix: free_port() for prefix in PREFIXES}
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOML_")}
    env |= {f"{prefix}PORT": str(port) for prefix, port in ports.items()}
    env["AUTOML_DATA_DIR"] = str(tmp_path / "data")
    repo_root = Path(__file__).resolve().parents[2]

    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "deploy.local.up"],
        cwd=repo_root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines = []
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if line.startswith("Ctrl-C") or time.monotonic() - started > 90:
                break
        elapsed = time.monotonic() - started
        output = "".join(lines)
        assert "services ready" in output, output
        assert elapsed < 60, f"make up took {elapsed:.1f} s"

        gateway = f"http://127.0.0.1:{ports['AUTOML_GATEWAY_']}"
        assert f"console:      {gateway}/" in output and f"API:          {gateway}/v1" in output
        admin_key = (tmp_path / "data" / "admin.key").read_text().strip()
        prefix, lookup, secret = admin_key.split("_", 2)
        assert f"{prefix}_{lookup}_..." in output  # only its public id is printed
        assert secret[:8] not in output
        me = httpx.get(f"{gateway}/v1/orgs/me", headers={"Authorization": f"Bearer {admin_key}"})
        assert me.status_code == 200 and me.json()["name"] == "default"
        for prefix, port in ports.items():
            assert httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200, prefix
        # A domain service is reachable through the gateway only: directly, it wants the internal token.
        assert httpx.get(f"http://127.0.0.1:{ports['AUTOML_DATASET_']}/v1/datasets").status_code == 401
        walk_the_journey(gateway, admin_key)
    finally:
        process.send_signal(signal.SIGINT)
        remaining, _ = process.communicate(timeout=30)
    assert process.returncode == 0, remaining
    assert "stopped." in remaining
    for port in ports.values():
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)


@pytest.mark.slow
def test_bootstrap_is_idempotent(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOML_")} | {"AUTOML_DATA_DIR": str(tmp_path)}
    command = [sys.executable, "-m", "gateway.cli", "bootstrap"]
    first = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    second = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    assert '"created": "true"' in first.stdout
    assert '"created": "false"' in second.stdout
    assert (tmp_path / "admin.key").read_text().strip() in second.stdout
    assert oct((tmp_path / "admin.key").stat().st_mode & 0o777) == "0o600"

    created = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "create-org", "second"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert '"admin_key": "aml_' in created.stdout
    duplicate = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "create-org", "second"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert duplicate.returncode == 1
    assert "OrgNameTaken" in duplicate.stderr
