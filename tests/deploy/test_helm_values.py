"""Values the chart refuses, with their messages: those its schema refuses, and those its templates refuse in
cluster mode (what a cluster needs, or options that cannot go together)."""

from __future__ import annotations

from typing import Any

import helm_python as helm
import pytest

from deploy.helm.check import MINIMAL, render
from tests.deploy.test_helm_chart import with_

REFUSED = [
    (with_(MINIMAL, "trainer.replicas", 3), "at '/trainer/replicas': maximum: got 3, want 1"),
    (with_(MINIMAL, "database.url", "mysql://db/automl"), "at '/database/url'"),
    (with_(MINIMAL, "secrets.internalToken", "short"), "at '/secrets/internalToken'"),
    (with_(MINIMAL, "trainer.jobs.gpus", -1), "at '/trainer/jobs/gpus': minimum: got -1, want 0"),
    (with_(MINIMAL, "trainer.jobs.resources.memoryLimit", "lots"), "at '/trainer/jobs/resources/memoryLimit'"),
    (with_(MINIMAL, "trainer.jobs.kueueQueue", "GPU Queue"), "at '/trainer/jobs/kueueQueue'"),
    (with_(MINIMAL, "gateway.replica", 2), "additional properties 'replica' not allowed"),
    (with_(MINIMAL, "settings", {"LOG_LEVEL": "DEBUG"}), "'LOG_LEVEL' does not match pattern '^AUTOML_[A-Z0-9_]+$'"),
    (with_(MINIMAL, "podSecurityContext.runAsNonRoot", False), "at '/podSecurityContext/runAsNonRoot'"),
    (with_(MINIMAL, "objectStore.bucket", "Not_A_Bucket"), "at '/objectStore/bucket'"),
    (with_(MINIMAL, "image.pullPolicy", "Sometimes"), "at '/image/pullPolicy'"),
    (with_(MINIMAL, "gateway.trustedProxies", ["the ingress"]), "at '/gateway/trustedProxies/0'"),
]


@pytest.mark.parametrize(("values", "message"), REFUSED, ids=[message.split(":")[0] for _, message in REFUSED])
def test_the_schema_refuses_bad_values(values: dict[str, Any], message: str) -> None:
    with pytest.raises(helm.HelmError) as refused:
        render(values)
    assert message in str(refused.value)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"objectStore": {"bucket": "automl"}},
            "database: set database.url (postgresql+asyncpg://...) or database.existingSecret",
        ),
        (
            with_(MINIMAL, "objectStore.accessKeyId", "AKIA"),
            "objectStore.secretAccessKey: give it with objectStore.accessKeyId",
        ),
        (
            with_(with_(MINIMAL, "inference.ray.address", "ray-head:6379"), "inference.ray.kuberay.enabled", True),
            "inference.ray: give either address (an existing Ray) or kuberay.enabled, not both",
        ),
        (
            with_(with_(MINIMAL, "inference.ray.kuberay.enabled", True), "inference.ray.replicaGpus", 1),
            "inference.ray.replicaGpus: the KubeRay workers have no GPU to give",
        ),
    ],
)
def test_cluster_mode_refuses_to_render_without_what_it_needs(values: dict[str, Any], message: str) -> None:
    with pytest.raises(helm.HelmError) as refused:
        render(values)
    assert message in str(refused.value)
