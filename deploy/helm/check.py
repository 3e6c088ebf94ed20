"""Render, lint and validate the chart offline (Helm's Go library through helm-python-sdk, no helm binary, no
cluster), as `make helm-lint` and the chart tests do.

Value sets: ``MINIMAL`` (what an install must give), ``EVERYTHING`` (every switch on), and the examples of the
README's "Install on Kubernetes". Every rendered object of a core API group is validated against the
Kubernetes 1.30 schemas with ``kubernetes-validate --strict``; custom resources (KubeRay, the Prometheus
Operator) are checked by the tests for their shape instead."""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import yaml

CHART = Path(__file__).resolve().parent / "automl"
KUBERNETES_VERSION = "1.30.0"
CUSTOM_GROUPS = ("ray.io/", "monitoring.coreos.com/")

MINIMAL: dict[str, Any] = {
    "database": {"url": "postgresql+asyncpg://automl:secret@postgres:5432/automl"},
    "objectStore": {"bucket": "automl"},
}
EVERYTHING: dict[str, Any] = {
    "image": {"registry": "registry.example/automl", "tag": "1.2.3", "pullPolicy": "Always"},
    "imagePullSecrets": [{"name": "registry"}],
    "database": {"existingSecret": "automl-postgres", "existingSecretKey": "url", "poolSize": 20},
    "objectStore": {
        "endpointUrl": "http://seaweedfs.storage:8333",
        "bucket": "automl-prod",
        "existingSecret": "automl-s3",
        "egressTo": [{"ipBlock": {"cidr": "10.20.0.0/16"}}],
    },
    "secrets": {"existingSecret": "automl-platform"},
    "settings": {"AUTOML_LOG_LEVEL": "DEBUG"},
    "gateway": {
        "trustedProxies": ["10.42.0.0/16"],
        "autoscaling": {"enabled": True, "minReplicas": 2, "maxReplicas": 20},
        "env": {"AUTOML_GATEWAY_RATE_LIMIT_PER_S": 500},
    },
    "dataset": {"autoscaling": {"enabled": True}},
    "snapshot": {"autoscaling": {"enabled": True}},
    "inference": {
        "autoscaling": {"enabled": True},
        "ray": {
            "replicaGpus": 0.5,
            "serveThroughputOptimized": True,
            "kuberay": {"enabled": True, "workers": {"gpus": 1, "nodeSelector": {"gpu": "l4"}}},
        },
    },
    "trainer": {
        "jobs": {
            "image": "registry.example/automl/trainer-svc:1.2.3-cuda12",
            "gpus": 2,
            "nodeSelector": {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"},
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
            "priorityClassName": "training",
            "kueueQueue": "gpu-queue",
            "embeddingCacheClaim": "automl-embeddings",
            "deadlineSeconds": 43200,
        }
    },
    "ingress": {"enabled": True, "className": "nginx", "host": "automl.example.com", "tls": {"enabled": True}},
    "networkPolicies": {
        "gatewayFrom": [{"namespaceSelector": {"matchLabels": {"name": "ingress-nginx"}}}],
        "metricsFrom": [{"namespaceSelector": {"matchLabels": {"name": "monitoring"}}}],
    },
    "monitoring": {
        "serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}},
        "rules": {"enabled": True, "labels": {"release": "prometheus"}},
    },
}
BARE: dict[str, Any] = MINIMAL | {
    "migrations": {"enabled": False},
    "networkPolicies": {"enabled": False},
    "monitoring": {"podAnnotations": False, "dashboards": {"enabled": False}},
    "test": {"enabled": False},
    **{name: {"podDisruptionBudget": {"enabled": False}} for name in ("gateway", "dataset", "snapshot", "inference")},
}
VALUE_SETS = {"minimal": MINIMAL, "everything": EVERYTHING, "bare": BARE}


def render(values: dict[str, Any], name: str = "demo", namespace: str = "ml") -> dict[str, list[dict[str, Any]]]:
    """The chart's objects by template path (NOTES.txt as text under ``"NOTES"``)."""
    with helm.Chart.load(str(CHART)) as chart:
        manifests = chart.render(copy.deepcopy(values), name=name, namespace=namespace, is_install=True)
    objects: dict[str, list[dict[str, Any]]] = {}
    for path, text in manifests.items():
        if path.endswith("NOTES.txt"):
            objects["NOTES"] = [{"text": text}]
            continue
        objects[path.split("/templates/", 1)[1]] = [doc for doc in yaml.safe_load_all(text) if doc]
    return objects


def every_object(rendered: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [obj for path, objs in rendered.items() if path != "NOTES" for obj in objs]


def validate(objects: list[dict[str, Any]]) -> list[str]:
    """Problems ``kubernetes-validate --strict`` finds in the core objects (an empty list when none)."""
    problems = []
    for obj in objects:
        if obj["apiVersion"].startswith(CUSTOM_GROUPS):
            continue
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            problems.append(f"{obj['kind']} {obj['metadata']['name']}: {error.message} at {list(error.path)}")
    return problems


def lint(values: dict[str, Any]) -> list[str]:
    report = helm.lint(
        str(CHART), copy.deepcopy(values), strict=True, namespace="ml", kube_version=f"v{KUBERNETES_VERSION}"
    )
    return [f"{m['path']}: {m['error']}" for m in report.get("messages", []) if m.get("severity", 0) >= 2] + list(
        report.get("errors") or []
    )


def main() -> int:
    failed = False
    for label, values in VALUE_SETS.items():
        objects = every_object(render(values))
        problems = lint(values) + validate(objects)
        for problem in problems:
            print(f"{label}: {problem}")
        failed = failed or bool(problems)
        verdict = "problems above" if problems else f"lint clean, valid for Kubernetes {KUBERNETES_VERSION}"
        print(f"{label}: {len(objects)} objects, {verdict}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
