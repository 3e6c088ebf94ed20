"""The chart's admission policies on what trainer-svc creates, evaluated as the API server evaluates them (CEL,
with cel-python): every Job and Secret the Kubernetes backend renders for a run passes; a Job that mounts or
reads another Secret, runs another image or account, or shares its node is refused, and so is a Secret that
is not a run's plain spec."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import celpy
import pytest
from celpy.adapter import json_to_cel

from deploy.helm.check import EVERYTHING, every_object, render
from tests.support.jobs import job_spec
from trainer_svc.jobs.k8s import render as render_job
from trainer_svc.settings import TrainerSettings

TRAINER = "system:serviceaccount:ml:demo-automl-trainer"


def compiled(expression: str) -> Callable[[dict[str, Any]], bool]:
    environment = celpy.Environment()
    program = environment.program(environment.compile(expression))
    return lambda activation: bool(program.evaluate({k: json_to_cel(v) for k, v in activation.items()}))


class Policy:
    def __init__(self, document: dict[str, Any]) -> None:
        spec = document["spec"]
        self.conditions = [compiled(c["expression"]) for c in spec["matchConditions"]]
        self.variables = [(v["name"], compiled(v["expression"]), v["expression"]) for v in spec.get("variables", [])]
        self.validations = [(compiled(v["expression"]), v["message"]) for v in spec["validations"]]

    def refusals(self, obj: dict[str, Any], username: str = TRAINER) -> list[str]:
        """The messages of the validations ``obj`` fails (none when it passes or the policy does not apply)."""
        request = {"userInfo": {"username": username}}
        if not all(condition({"request": request}) for condition in self.conditions):
            return []
        variables = {}
        for name, _, expression in self.variables:  # this policy's variables are plain field selections
            value: Any = {"object": obj}
            for part in expression.split("."):
                value = value[part]
            variables[name] = value
        activation = {"object": obj, "request": request, "variables": variables}
        return [message for check, message in self.validations if not check(activation)]


@pytest.fixture(scope="module")
def chart() -> dict[str, Any]:
    objects = every_object(render(EVERYTHING))
    policies = {o["metadata"]["name"]: o for o in objects if o["kind"] == "ValidatingAdmissionPolicy"}
    trainer = next(o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "demo-automl-trainer")
    env = {e["name"]: e["value"] for e in trainer["spec"]["template"]["spec"]["containers"][0]["env"] if "value" in e}
    return {"policies": policies, "env": env}


@pytest.fixture
def rendered_run(chart: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Any]:
    """The Job and spec Secret trainer-svc makes for a 2-node GPU run, with the settings the chart gives it."""
    for name, value in chart["env"].items():
        if name.startswith("AUTOML_TRAINER_K8S_"):
            monkeypatch.setenv(name, value)
    settings = TrainerSettings(data_dir=tmp_path)
    return render_job(job_spec(gpus=2, nodes=2), settings, "ml")


def test_a_training_runs_job_and_secret_pass(chart: dict[str, Any], rendered_run: dict[str, Any]) -> None:
    jobs = Policy(chart["policies"]["demo-automl-training-jobs"])
    secrets = Policy(chart["policies"]["demo-automl-training-secrets"])
    # The run mounts its org's folder of the embedding cache's claim (the chart's values name one).
    assert {"name": "embeddings", "persistentVolumeClaim": {"claimName": "automl-embeddings"}} in rendered_run["job"][
        "spec"
    ]["template"]["spec"]["volumes"]
    assert jobs.refusals(rendered_run["job"]) == []
    assert secrets.refusals(rendered_run["secret"]) == []
    # Anyone else's Jobs are not this policy's business.
    hostile = copy.deepcopy(rendered_run["job"])
    hostile["spec"]["template"]["spec"]["containers"][0]["image"] = "evil/image"
    assert jobs.refusals(hostile, username="system:serviceaccount:ml:someone-else") == []


def with_pod(job: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    changed = copy.deepcopy(job)
    change(changed["spec"]["template"]["spec"])
    return changed


def mount_embeddings(pod: dict[str, Any], sub_path: str | None) -> None:
    """The embedding cache's claim mounted at ``sub_path`` (None: the whole claim)."""
    for mount in pod["containers"][0]["volumeMounts"]:
        if mount["name"] == "embeddings":
            mount.pop("subPath")
            if sub_path is not None:
                mount["subPath"] = sub_path


HOSTILE_PODS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "another image": (lambda pod: pod["containers"][0].update(image="evil/image"), "worker image"),
    "the platform's secret as env": (
        lambda pod: pod["containers"][0]["envFrom"].append({"secretRef": {"name": "demo-automl"}}),
        "settings and the store's credentials",
    ),
    "a secret key": (
        lambda pod: pod["containers"][0]["env"].append(
            {"name": "X", "valueFrom": {"secretKeyRef": {"name": "demo-automl", "key": "AUTOML_INTERNAL_TOKEN"}}}
        ),
        "spec Secret only",
    ),
    "a secret volume": (
        lambda pod: pod["volumes"].append({"name": "s", "secret": {"secretName": "demo-automl"}}),
        "scratch space only",
    ),
    "a host path": (lambda pod: pod["volumes"].append({"name": "h", "hostPath": {"path": "/"}}), "scratch space"),
    "another claim": (
        lambda pod: pod["volumes"].append({"name": "c", "persistentVolumeClaim": {"claimName": "postgres-data"}}),
        "scratch space",
    ),
    "the whole embedding cache": (lambda pod: mount_embeddings(pod, None), "its own org's folder"),
    "another org's embeddings": (lambda pod: mount_embeddings(pod, "org_someone_else"), "its own org's folder"),
    "another account": (lambda pod: pod.update(serviceAccountName="demo-automl-trainer"), "worker account"),
    "a mounted token": (lambda pod: pod.update(automountServiceAccountToken=True), "worker account"),
    "an init container": (lambda pod: pod.update(initContainers=[{"name": "i", "image": "x"}]), "no other"),
    "the host network": (lambda pod: pod.update(hostNetwork=True), "shares nothing"),
    "privileged": (
        lambda pod: pod["containers"][0]["securityContext"].update(privileged=True),
        "shares nothing",
    ),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_PODS))
def test_a_job_that_reaches_beyond_its_run_is_refused(
    chart: dict[str, Any], rendered_run: dict[str, Any], case: str
) -> None:
    change, message = HOSTILE_PODS[case]
    refusals = Policy(chart["policies"]["demo-automl-training-jobs"]).refusals(with_pod(rendered_run["job"], change))
    assert any(message in refusal for refusal in refusals), refusals


def test_a_secret_other_than_a_runs_spec_is_refused(chart: dict[str, Any], rendered_run: dict[str, Any]) -> None:
    secrets = Policy(chart["policies"]["demo-automl-training-secrets"])
    token = copy.deepcopy(rendered_run["secret"])
    token["type"] = "kubernetes.io/service-account-token"  # the API server would fill it with a token
    token["metadata"]["annotations"] = {"kubernetes.io/service-account.name": "demo-automl-gateway"}
    assert secrets.refusals(token)
    renamed = copy.deepcopy(rendered_run["secret"])
    renamed["metadata"]["name"] = "demo-automl"
    assert secrets.refusals(renamed)
