"""The README's commands, as written, against a running platform: the quick start's shell block (curl and the
CLI, from making the CSV to a deployment's answer), the SDK's Python snippet, and the HTTP blocks of the
datasets, snapshots and inference sections. Each block marked ``<!-- readme-test: NAME -->`` runs; the shell
blocks in one bash session, in the README's order, from a folder holding ``.automl/admin.key`` as `make up`
leaves it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from automl_client import Client
from tests.support.api import OPERATOR_KEY
from tests.support.platform import Platform
from tests.support.whole import full_platform, module_postgres_url

__all__ = ["full_platform", "module_postgres_url"]
ROOT = Path(__file__).resolve().parents[2]
MARKED = re.compile(r"<!-- readme-test: ([a-z-]+)[^>]*-->\n```(bash|python)\n(.*?)```", re.S)
pytestmark = pytest.mark.slow


def blocks() -> list[tuple[str, str, str]]:
    return [(name, language, code) for name, language, code in MARKED.findall((ROOT / "README.md").read_text())]


def test_the_readme_marks_its_runnable_blocks() -> None:
    names = [name for name, _, _ in blocks()]
    assert names == ["quick-start", "sdk", "datasets", "snapshots", "inference"], names


def test_the_readme_runs_as_written(full_platform: Platform, tmp_path: Path) -> None:
    with Client(full_platform.gateway_url, OPERATOR_KEY) as operator:
        org = operator.orgs.create("readme")
    (tmp_path / ".automl").mkdir()
    (tmp_path / ".automl" / "admin.key").write_text(org.admin_key)
    env = {key: value for key, value in os.environ.items() if not key.startswith("AUTOML_")}
    env |= {
        "AUTOML_URL": full_platform.gateway_url,
        "AUTOML_CONFIG": str(tmp_path / "no-profile.toml"),
        "PATH": f"{Path(sys.executable).parent}:{env['PATH']}",  # the project's virtualenv, as make leaves it
        "PYTHONPATH": str(ROOT),  # `python -m deploy.local...` from the repository's root, as in the README
        "COLUMNS": "120",
    }
    shell = "set -eu\n" + "\n".join(code for _, language, code in blocks() if language == "bash")
    ran = subprocess.run(["bash", "-c", shell], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert ran.returncode == 0, f"stdout:\n{ran.stdout[-4000:]}\nstderr:\n{ran.stderr[-4000:]}"
    out = ran.stdout
    assert "500 messages" in out
    assert "spam" in out and "free queries left" in ran.stderr  # the playground's answer, its quota on stderr
    assert '"outputs"' in out and '"predicted"' in out  # the deployment's answers over HTTP
    assert (tmp_path / "results.jsonl").read_text().count("\n") >= 400  # the batch of the snapshot's rows

    python = "\n".join(code for _, language, code in blocks() if language == "python")
    env["AUTOML_API_KEY"] = org.admin_key
    ran = subprocess.run([sys.executable, "-c", python], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr[-4000:]
    assert 0.5 < float(ran.stdout.strip().splitlines()[-1]) <= 1.0  # the macro F1 it prints
