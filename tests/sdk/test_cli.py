"""The ``automl`` CLI against the running platform of the test suite: every command, ``--json`` output that
scripts can read, the live training view, and exit codes that say what failed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from automl_client import Client
from automl_client.cli import app
from automl_client.cli.output import EXIT_AUTH, EXIT_CONFIG, EXIT_INVALID, EXIT_NOT_FOUND
from tests.sdk.conftest import Org, new_org
from tests.support.platform import Platform


@pytest.fixture(scope="module")
def org(sdk_platform: Platform, tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> Org:
    return new_org(sdk_platform, "sdk-cli", tiny_bert, tmp_path_factory.mktemp("cli"))


class Automl:
    """Runs ``automl`` in this process, as the org (its URL and key in the environment)."""

    def __init__(self, org: Org) -> None:
        self.runner = CliRunner()
        self.env = {"AUTOML_URL": org.url, "AUTOML_API_KEY": org.key, "AUTOML_CONFIG": "/nonexistent/automl.toml"}
        self.env["COLUMNS"] = "250"  # tables unfolded

    def __call__(self, *args: str, input: str | None = None, code: int = 0, env: dict[str, str] | None = None) -> str:
        result = self.runner.invoke(app, list(args), input=input, env=self.env | (env or {}))
        assert result.exit_code == code, f"automl {' '.join(args)} -> {result.exit_code}:\n{result.output}"
        return result.output

    def json(self, *args: str, input: str | None = None) -> Any:
        return json.loads(self(*args, "--json", input=input))


@pytest.fixture(scope="module")
def automl(org: Org) -> Automl:
    return Automl(org)


def test_the_journey_with_every_command(automl: Automl, org: Org, tmp_path: Path) -> None:
    assert automl.json("orgs", "me")["id"] == org.org_id

    uploaded = automl("datasets", "upload", str(org.csv), "--name", "reviews")
    assert "ready: 120 rows" in uploaded and "inferred" in uploaded  # then the mapping to confirm
    dataset = next(item for item in automl.json("datasets", "list") if item["name"] == "reviews")
    assert automl.json("datasets", "get", dataset["id"])["row_count"] == 120
    columns = automl.json("datasets", "columns", dataset["id"])
    assert {column["name"] for column in columns} == {"text", "sentiment", "topic", "tags"}
    shown = automl("datasets", "columns", dataset["id"])
    assert "sentiment" in shown and "distinct" in shown
    confirmed = automl.json(
        "datasets", "columns", dataset["id"], "--set", "topic=ignore", "--set", "tags=ignore", "--set", "text=text",
        "--set", "sentiment=label", "--confirm",
    )  # fmt: skip
    assert confirmed["mapping_confirmed"] is True
    rows = automl.json("datasets", "rows", dataset["id"], "--limit", "7", "--start", "100")
    assert [row["index"] for row in rows] == list(range(100, 107))
    assert "ok" in automl("datasets", "rows", dataset["id"], "--limit", "3")

    snapshot = automl.json(
        "snapshots", "create", "--dataset", dataset["id"], "--name", "reviews", "--input-column", "text",
        "--head", "sentiment",
    )  # fmt: skip
    assert snapshot["status"] == "ready" and snapshot["row_count"] == 120
    assert any(item["id"] == snapshot["id"] for item in automl.json("snapshots", "list"))
    assert automl.json("snapshots", "get", snapshot["id"])["heads"][0]["name"] == "sentiment"
    assert automl.json("snapshots", "invalid-rows", snapshot["id"]) == []
    assert org.base_model_id in automl("base-models", "list")
    assert automl.json("base-models", "get", org.base_model_id)["name"] == "tiny-bert"

    # The live view of a run, a line per change when not on a terminal.
    trained = automl(
        "models", "create", "--name", "sentiment", "--base-model", org.base_model_id, "--snapshot", snapshot["id"],
        "--test-split-pct", "25", "--option", "max_epochs=6", "--wait",
    )  # fmt: skip
    lines = [line for line in trained.splitlines() if " | epoch " in line]
    assert lines and "succeeded" in lines[-1]
    assert all(part in lines[-1] for part in ("step", "loss", "val", "ex/s", "ETA"))
    model = next(item for item in automl.json("models", "list") if item["name"] == "sentiment")
    assert model["status"] == "succeeded"
    assert automl.json("models", "get", model["id"])["id"] == model["id"]
    metrics = automl("models", "metrics", model["id"])
    assert "head sentiment" in metrics and "positive" in metrics and "confusion matrix" in metrics
    at_threshold = automl.json("models", "metrics", model["id"], "--threshold", "0.8")
    assert at_threshold["heads"]["sentiment"]["threshold"] == 0.8
    assert "sentiment" in automl("models", "card", model["id"])
    assert automl.json("models", "events", model["id"])[-1]["kind"] == "succeeded"

    assert automl("models", "list", "-q").split() == [item["id"] for item in automl.json("models", "list")]
    assert automl("models", "get", "sentiment", "-q").strip() == model["id"]  # a name, where an id goes
    played = automl.json("playground", "sentiment", "great lovely good")
    assert set(played["output"]["heads"]["sentiment"]["scores"]) == {"negative", "positive"}
    assert played["remaining"] >= 0
    assert "free queries left" in automl("playground", model["id"], "awful")

    deployment = automl.json("deploy", "sentiment", "--name", "sentiment")
    assert deployment["status"] == "ready"
    assert any(item["id"] == deployment["id"] for item in automl.json("deployments", "list"))
    assert automl.json("deployments", "get", deployment["id"])["model_id"] == model["id"]
    assert automl.json("deployments", "scale", deployment["id"], "--max-replicas", "2")["max_replicas"] == 2
    # A blank line gets an empty answer in its place: the outputs join back to the inputs line by line.
    predicted = automl("predict", "sentiment", "--json", input="great good\nawful bad\n\nlovely\n")
    answers = [json.loads(line) for line in predicted.splitlines()]
    assert len(answers) == 4 and answers[2] == {}
    assert all("sentiment" in answer["outputs"][0]["heads"] for answer in answers[:2] + answers[3:])

    with Client(org.url, org.key) as sdk:
        task = sdk.deployments.create_task(deployment["id"], ["great good"])
    done = automl.json("tasks", "get", task.task_id, "--wait")
    assert done["status"] == "succeeded" and len(done["outputs"]) == 1

    results = tmp_path / "results.jsonl"
    batch = automl.json(
        "batch-predict", "--deployment", deployment["id"], "--snapshot", snapshot["id"], "--output", str(results)
    )
    assert batch["batch"]["status"] == "succeeded" and batch["path"] == str(results)
    assert len(results.read_text().splitlines()) == 120
    assert any(item["id"] == batch["batch"]["id"] for item in automl.json("batch-predictions", "list"))
    assert automl.json("batch-predictions", "get", batch["batch"]["id"])["progress"]["rows_done"] == 120

    key = automl.json("keys", "create", "predict-only", "--deployment", "sentiment")
    assert key["key"].startswith("aml_") and key["scope"] == "deployment"
    assert any(item["id"] == key["id"] for item in automl.json("keys", "list"))
    assert automl.json("keys", "get", key["id"])["name"] == "predict-only"
    scoped = automl("predict", deployment["id"], input="good\n", env={"AUTOML_API_KEY": key["key"]})
    assert "sentiment" in scoped
    automl("keys", "revoke", key["id"], input="n\n", code=1)  # asked, answered no: nothing done
    assert automl.json("keys", "get", key["id"])["revoked_at"] is None
    assert "Revoke key" in automl("keys", "revoke", key["id"], input="y\n")  # asked, answered yes
    assert automl.json("keys", "get", key["id"])["revoked_at"] is not None
    automl("predict", deployment["id"], input="good\n", env={"AUTOML_API_KEY": key["key"]}, code=EXIT_AUTH)

    assert isinstance(automl.json("usage"), list)
    assert automl.json("deployments", "delete", deployment["id"], "--yes")["id"] == deployment["id"]
    automl("snapshots", "delete", snapshot["id"], "-y", code=EXIT_INVALID)  # 409: a model was trained on it
    automl("models", "delete", model["id"], "-y", code=EXIT_INVALID)  # 409: its deployment is still being deleted
    automl("datasets", "delete", dataset["id"], "--yes")  # its snapshot keeps its own copy of the rows
    automl("datasets", "get", dataset["id"], code=EXIT_NOT_FOUND)


def test_exit_codes_say_what_failed(automl: Automl, org: Org) -> None:
    missing = automl("datasets", "get", "dataset_" + "0" * 26, code=EXIT_NOT_FOUND)
    assert "NotFound" in missing
    error = json.loads(automl("models", "get", "model_" + "0" * 26, "--json", code=EXIT_NOT_FOUND))
    assert error["status"] == 404 and error["request_id"] and error["exit_code"] == EXIT_NOT_FOUND
    automl("datasets", "list", env={"AUTOML_API_KEY": "aml_0000000000000000_" + "x" * 40}, code=EXIT_AUTH)
    automl("datasets", "list", env={"AUTOML_API_KEY": ""}, code=EXIT_CONFIG)
    automl("models", "create", "--name", "x", code=2)  # a usage error: Typer's own
    automl("models", "get", "no-such-model", code=EXIT_NOT_FOUND)  # a name that is no model's
    invalid = automl("deploy", "model_" + "0" * 26, "--name", "x", "--min-replicas", "3", "--max-replicas", "1", code=6)
    assert "InvalidArguments" in invalid and "max_replicas (1) is below min_replicas (3)" in invalid


def test_json_output_is_only_json(automl: Automl, org: Org) -> None:
    output = automl("datasets", "upload", str(org.csv), "--name", "quiet", "--no-wait", "--json")
    created = json.loads(output)  # no progress bar, no message: the JSON alone on stdout
    assert created["name"] == "quiet" and created["status"] in ("processing", "ready")


def test_the_set_up_installs_the_command(org: Org) -> None:
    """`make install` puts `automl` in the project virtualenv, and it runs as a program of its own."""
    import subprocess
    import sys

    program = Path(sys.executable).parent / "automl"
    assert program.exists()
    env = {"AUTOML_URL": org.url, "AUTOML_API_KEY": org.key, "AUTOML_CONFIG": "/nonexistent", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([str(program), "orgs", "me", "--json"], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["id"] == org.org_id
