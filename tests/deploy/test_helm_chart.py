"""The Helm chart, rendered and linted offline by Helm's own library (helm-python-sdk): with the minimal
values, with every option on, and bare; every core object valid for Kubernetes 1.30 (kubernetes-validate,
strict); what each object must hold (the values refused: test_helm_values)."""

from __future__ import annotations

import copy
import json
from typing import Any

import helm_python as helm
import pytest

from deploy.helm.check import MINIMAL, VALUE_SETS, every_object, lint, render, validate

SERVICES = ("gateway", "dataset", "snapshot", "trainer", "inference")


@pytest.fixture(scope="module")
def rendered() -> dict[str, dict[str, list[dict[str, Any]]]]:
    return {label: render(values) for label, values in VALUE_SETS.items()}


def objects_of(rendered: dict[str, list[dict[str, Any]]], kind: str) -> dict[str, dict[str, Any]]:
    return {obj["metadata"]["name"]: obj for obj in every_object(rendered) if obj["kind"] == kind}


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {item["name"]: item.get("value", item.get("valueFrom")) for item in container.get("env", [])}


@pytest.mark.parametrize("label", sorted(VALUE_SETS))
def test_lint_clean_and_valid_for_kubernetes_1_30(label: str, rendered: dict[str, Any]) -> None:
    assert lint(VALUE_SETS[label]) == []
    objects = every_object(rendered[label])
    assert validate(objects) == []
    kinds = {obj["kind"] for obj in objects}
    assert {"Deployment", "Service", "ServiceAccount", "ConfigMap", "Role", "RoleBinding"} <= kinds


def test_each_service_is_a_deployment_with_probes_resources_and_a_locked_down_container(
    rendered: dict[str, Any],
) -> None:
    for label in VALUE_SETS:
        deployments = objects_of(rendered[label], "Deployment")
        assert set(deployments) == {f"demo-automl-{name}" for name in SERVICES}
        for name, deployment in deployments.items():
            pod = deployment["spec"]["template"]["spec"]
            assert pod["securityContext"]["runAsNonRoot"] is True
            assert pod["automountServiceAccountToken"] is (name == "demo-automl-trainer")  # only it calls the API
            for container in pod["containers"]:
                assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
                assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
                assert container["resources"]["requests"] and container["resources"]["limits"]
                security = container["securityContext"]
                assert security["readOnlyRootFilesystem"] is True
                assert security["allowPrivilegeEscalation"] is False
                assert security["capabilities"] == {"drop": ["ALL"]}
    pdbs = objects_of(rendered["minimal"], "PodDisruptionBudget")
    assert set(pdbs) == {f"demo-automl-{name}" for name in ("gateway", "dataset", "snapshot", "inference")}
    assert objects_of(rendered["bare"], "PodDisruptionBudget") == {}
    hpas = objects_of(rendered["everything"], "HorizontalPodAutoscaler")
    assert set(hpas) == {f"demo-automl-{name}" for name in ("gateway", "dataset", "snapshot", "inference")}
    assert hpas["demo-automl-gateway"]["spec"]["maxReplicas"] == 20
    assert "replicas" not in objects_of(rendered["everything"], "Deployment")["demo-automl-gateway"]["spec"]


def test_secrets_reach_only_the_services_that_need_them(rendered: dict[str, Any]) -> None:
    minimal = rendered["minimal"]
    config = objects_of(minimal, "ConfigMap")["demo-automl-config"]["data"]
    assert config["AUTOML_MODE"] == "cluster"
    assert config["AUTOML_AUTO_MIGRATE"] == "false"  # the hook migrates
    assert not any("secret" in value.lower() for value in config.values())
    deployments = objects_of(minimal, "Deployment")
    for name, deployment in deployments.items():
        env = env_of(deployment["spec"]["template"]["spec"]["containers"][0])
        assert env["AUTOML_DATABASE_URL"] == {
            "secretKeyRef": {"name": "demo-automl-database", "key": "AUTOML_DATABASE_URL"}
        }
        assert ("AUTOML_OPERATOR_KEY" in env) is (name == "demo-automl-gateway")
        assert ("AUTOML_CONSOLE_SECRET" in env) is (name == "demo-automl-gateway")  # only the console's cookies
    everything = objects_of(rendered["everything"], "Deployment")
    env = env_of(everything["demo-automl-dataset"]["spec"]["template"]["spec"]["containers"][0])
    assert env["AUTOML_DATABASE_URL"] == {"secretKeyRef": {"name": "automl-postgres", "key": "url"}}
    assert env["AUTOML_INTERNAL_TOKEN"] == {"secretKeyRef": {"name": "automl-platform", "key": "AUTOML_INTERNAL_TOKEN"}}
    assert env["AUTOML_S3_SECRET_ACCESS_KEY"]["secretKeyRef"]["name"] == "automl-s3"
    assert set(objects_of(rendered["everything"], "Secret")) == {"demo-automl-ray-token"}  # the rest exist already


def test_trainer_gets_its_gpu_job_settings_and_a_role_limited_to_its_jobs(rendered: dict[str, Any]) -> None:
    trainer = objects_of(rendered["everything"], "Deployment")["demo-automl-trainer"]
    env = env_of(trainer["spec"]["template"]["spec"]["containers"][0])
    assert env["AUTOML_TRAINER_JOB_BACKEND"] == "kubernetes"
    assert env["AUTOML_TRAINER_K8S_NAMESPACE"] == "ml"
    assert env["AUTOML_TRAINER_K8S_IMAGE"] == "registry.example/automl/trainer-svc:1.2.3-cuda12"
    assert env["AUTOML_TRAINER_K8S_DEFAULT_GPUS"] == "2"
    assert json.loads(env["AUTOML_TRAINER_K8S_NODE_SELECTOR"]) == {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}
    assert json.loads(env["AUTOML_TRAINER_K8S_TOLERATIONS"])[0]["key"] == "nvidia.com/gpu"
    assert env["AUTOML_TRAINER_K8S_KUEUE_QUEUE"] == "gpu-queue"
    assert env["AUTOML_TRAINER_K8S_PRIORITY_CLASS"] == "training"
    assert env["AUTOML_TRAINER_JOB_DEADLINE_S"] == "43200"
    assert env["AUTOML_TRAINER_K8S_SERVICE_ACCOUNT"] == "demo-automl-worker"
    assert env["AUTOML_TRAINER_K8S_SECRET"] == "automl-s3"  # the workers' store credentials, nothing else
    assert env["AUTOML_TRAINER_PUBLIC_URL"] == "http://demo-automl-trainer:8083"
    assert json.loads(env["AUTOML_TRAINER_K8S_LABELS"])["app.kubernetes.io/instance"] == "demo"
    assert trainer["spec"]["strategy"] == {"type": "Recreate"}  # one dispatcher at a time

    role = objects_of(rendered["minimal"], "Role")["demo-automl-trainer"]
    rules = {(tuple(r["apiGroups"]), tuple(r["resources"])): set(r["verbs"]) for r in role["rules"]}
    assert rules == {
        (("batch",), ("jobs",)): {"create", "get", "list", "watch", "delete"},
        (("",), ("pods",)): {"get", "list", "watch"},
        (("",), ("pods/log",)): {"get"},
        (("",), ("secrets",)): {"create", "patch"},
        (("",), ("services",)): {"create"},
    }
    binding = objects_of(rendered["minimal"], "RoleBinding")["demo-automl-trainer"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "demo-automl-trainer", "namespace": "ml"}]
    assert objects_of(rendered["minimal"], "ClusterRole") == {}
    worker = objects_of(rendered["minimal"], "ServiceAccount")["demo-automl-worker"]
    assert worker["automountServiceAccountToken"] is False
    worker_config = objects_of(rendered["minimal"], "ConfigMap")["demo-automl-worker"]["data"]
    assert set(worker_config) >= {"AUTOML_WORKER_STORE_BACKEND", "AUTOML_WORKER_S3_BUCKET"}
    assert not any("TOKEN" in key or "DATABASE" in key for key in worker_config)


def test_network_policies(rendered: dict[str, Any]) -> None:
    policies = objects_of(rendered["everything"], "NetworkPolicy")
    deny = policies["demo-automl-default-deny"]
    assert deny["spec"] == {
        "podSelector": {"matchLabels": {"app.kubernetes.io/instance": "demo"}},
        "policyTypes": ["Ingress"],
    }
    monitoring = {"namespaceSelector": {"matchLabels": {"name": "monitoring"}}}
    gateway = policies["demo-automl-gateway"]["spec"]["ingress"]
    assert gateway[0]["from"] == [{"namespaceSelector": {"matchLabels": {"name": "ingress-nginx"}}}, monitoring]
    for name in ("dataset", "snapshot", "trainer", "inference"):
        (rule,) = policies[f"demo-automl-{name}"]["spec"]["ingress"]
        pods = [peer for peer in rule["from"] if "podSelector" in peer]
        peers = {peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"] for peer in pods}
        expected = set(SERVICES) - {name} | ({"training-worker"} if name == "trainer" else set())
        assert peers == expected, name
        assert [peer for peer in rule["from"] if "podSelector" not in peer] == [monitoring]  # and Prometheus
    (ray,) = policies["demo-automl-ray"]["spec"]["ingress"]
    assert {p["podSelector"]["matchLabels"]["app.kubernetes.io/component"] for p in ray["from"]} == {"inference", "ray"}
    minimal = objects_of(rendered["minimal"], "NetworkPolicy")
    (rule,) = minimal["demo-automl-dataset"]["spec"]["ingress"]
    assert all("namespaceSelector" not in peer for peer in rule["from"])  # by default nothing from outside
    assert "from" not in minimal["demo-automl-gateway"]["spec"]["ingress"][0]  # the gateway: anyone
    worker = policies["demo-automl-training-worker"]["spec"]
    assert worker["policyTypes"] == ["Ingress", "Egress"]
    egress = worker["egress"]
    assert egress[0]["to"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "trainer"
    assert egress[0]["ports"] == [{"port": 8083, "protocol": "TCP"}]
    assert egress[3]["to"] == [{"ipBlock": {"cidr": "10.20.0.0/16"}}]  # the object store
    assert objects_of(rendered["bare"], "NetworkPolicy") == {}


def test_the_migration_hook(rendered: dict[str, Any]) -> None:
    (job,) = [obj for obj in rendered["minimal"]["migrations.yaml"] if obj["kind"] == "Job"]
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert "before-hook-creation" in annotations["helm.sh/hook-delete-policy"]
    pod = job["spec"]["template"]["spec"]
    commands = [c["command"] for c in pod["initContainers"]]
    assert commands == [
        ["python", "-m", module, "migrate"]
        for module in ("gateway", "dataset_svc", "snapshot_svc", "trainer_svc", "inference_svc")
    ]
    for container in pod["initContainers"]:
        assert set(env_of(container)) == {"AUTOML_MODE", "AUTOML_DATA_DIR", "AUTOML_DATABASE_URL"}
    database = objects_of(rendered["minimal"], "Secret")["demo-automl-database"]["metadata"]["annotations"]
    assert database["helm.sh/hook"] == "pre-install,pre-upgrade"  # it exists before the hook Job runs
    assert int(database["helm.sh/hook-weight"]) < int(annotations.get("helm.sh/hook-weight", "0"))
    assert "migrations.yaml" not in rendered["bare"] or rendered["bare"]["migrations.yaml"] == []
    bare_config = objects_of(rendered["bare"], "ConfigMap")["demo-automl-config"]["data"]
    assert bare_config["AUTOML_AUTO_MIGRATE"] == "true"  # no hook: the services migrate at start-up


def test_ray_ingress_monitoring_notes_and_helm_test(rendered: dict[str, Any]) -> None:
    everything = rendered["everything"]
    (ray,) = [obj for obj in every_object(everything) if obj["kind"] == "RayCluster"]
    worker = ray["spec"]["workerGroupSpecs"][0]["template"]["spec"]
    assert worker["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    inference = objects_of(everything, "Deployment")["demo-automl-inference"]
    env = env_of(inference["spec"]["template"]["spec"]["containers"][0])
    assert env["AUTOML_INFERENCE_RAY_ADDRESS"] == "demo-automl-ray-head-svc:6379"
    assert env["RAY_AUTH_MODE"] == "token"
    assert env["AUTOML_INFERENCE_REPLICA_NUM_GPUS"] == "0.5"  # replicas ask Ray for a GPU and load on CUDA
    minimal = objects_of(rendered["minimal"], "Deployment")["demo-automl-inference"]
    assert "AUTOML_INFERENCE_REPLICA_NUM_GPUS" not in env_of(minimal["spec"]["template"]["spec"]["containers"][0])
    assert env_of(minimal["spec"]["template"]["spec"]["containers"][0])["RAY_SERVE_THROUGHPUT_OPTIMIZED"] == "0"
    assert env["RAY_AUTH_TOKEN"] == {"secretKeyRef": {"name": "demo-automl-ray-token", "key": "RAY_AUTH_TOKEN"}}
    # Serve's throughput-optimized path, where asked, is read by the handles (inference-svc) and the replicas
    # (Ray pods) alike; off by default.
    assert env["RAY_SERVE_THROUGHPUT_OPTIMIZED"] == "1"
    head = ray["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    assert (
        env_of(head)["RAY_SERVE_THROUGHPUT_OPTIMIZED"]
        == env_of(worker["containers"][0])["RAY_SERVE_THROUGHPUT_OPTIMIZED"]
        == "1"
    )
    ingress = objects_of(everything, "Ingress")["demo-automl"]
    assert ingress["spec"]["tls"] == [{"hosts": ["automl.example.com"], "secretName": "demo-automl-tls"}]
    assert {path["backend"]["service"]["name"] for path in ingress["spec"]["rules"][0]["http"]["paths"]} == {
        "demo-automl-gateway"
    }
    (monitor,) = [obj for obj in every_object(everything) if obj["kind"] == "ServiceMonitor"]
    assert monitor["spec"]["endpoints"] == [{"port": "http", "path": "/metrics", "interval": "30s"}]
    annotations = objects_of(rendered["minimal"], "Deployment")["demo-automl-gateway"]["spec"]["template"]["metadata"]
    assert annotations["annotations"]["prometheus.io/scrape"] == "true"
    notes = rendered["minimal"]["NOTES"][0]["text"]
    assert "kubectl -n ml get secret demo-automl -o jsonpath='{.data.AUTOML_OPERATOR_KEY}' | base64 -d" in notes
    (test_pod,) = [obj for obj in every_object(rendered["minimal"]) if obj["kind"] == "Pod"]
    assert test_pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert "http://demo-automl-gateway:80/readyz" in test_pod["spec"]["containers"][0]["command"][2]
    assert not [obj for obj in every_object(rendered["bare"]) if obj["kind"] == "Pod"]


def test_the_gateway_trusts_the_proxies_it_is_told_of(rendered: dict[str, Any]) -> None:
    gateway = objects_of(rendered["everything"], "Deployment")["demo-automl-gateway"]
    env = env_of(gateway["spec"]["template"]["spec"]["containers"][0])
    assert json.loads(env["AUTOML_GATEWAY_TRUSTED_PROXIES"]) == ["10.42.0.0/16"]
    minimal = objects_of(rendered["minimal"], "Deployment")["demo-automl-gateway"]
    assert "AUTOML_GATEWAY_TRUSTED_PROXIES" not in env_of(minimal["spec"]["template"]["spec"]["containers"][0])


def test_generated_secrets_are_long_and_given_ones_kept(rendered: dict[str, Any]) -> None:
    import base64

    secret = objects_of(rendered["minimal"], "Secret")["demo-automl"]
    for key in ("AUTOML_INTERNAL_TOKEN", "AUTOML_OPERATOR_KEY", "AUTOML_CONSOLE_SECRET"):
        assert len(base64.b64decode(secret["data"][key])) == 48
    given = render(MINIMAL | {"secrets": {"internalToken": "t" * 40, "operatorKey": "o" * 40}})
    data = objects_of(given, "Secret")["demo-automl"]["data"]
    assert base64.b64decode(data["AUTOML_INTERNAL_TOKEN"]) == b"t" * 40


def with_(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    values = copy.deepcopy(base)
    node = values
    *parents, last = path.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    return values


def readme_examples() -> list[dict[str, Any]]:
    import re
    from pathlib import Path

    import yaml

    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = text.split("## Install on Kubernetes", 1)[1].split("\n## ", 1)[0]
    return [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", section, flags=re.DOTALL)]


def test_the_readme_examples_render_and_are_valid() -> None:
    examples = readme_examples()
    assert len(examples) == 3  # a GPU cluster, a CPU-only cluster, an existing Postgres and S3
    for values in examples:
        assert lint(values) == []
        assert validate(every_object(render(values))) == []
    gpu = objects_of(render(examples[0]), "Deployment")["demo-automl-trainer"]
    assert env_of(gpu["spec"]["template"]["spec"]["containers"][0])["AUTOML_TRAINER_K8S_KUEUE_QUEUE"] == "gpu-queue"
    cpu = objects_of(render(examples[1]), "Deployment")["demo-automl-trainer"]
    assert env_of(cpu["spec"]["template"]["spec"]["containers"][0])["AUTOML_TRAINER_K8S_DEFAULT_GPUS"] == "0"


def test_what_fetches_tenant_urls_or_runs_tenant_models_reaches_no_private_address(rendered: dict[str, Any]) -> None:
    policies = objects_of(rendered["everything"], "NetworkPolicy")
    metadata = "169.254.0.0/16"

    def rules(name: str) -> list[dict[str, Any]]:
        egress: list[dict[str, Any]] = policies[f"demo-automl-{name}"]["spec"]["egress"]
        return egress

    def blocks(rule: dict[str, Any]) -> list[dict[str, Any]]:
        return [peer["ipBlock"] for peer in rule.get("to", []) if "ipBlock" in peer]

    for name in ("dataset-egress", "inference-egress"):
        public = [rule for rule in rules(name) if {p["port"] for p in rule.get("ports", [])} == {80, 443}]
        assert len(public) == 1, name
        (block,) = blocks(public[0])
        assert block["cidr"] == "0.0.0.0/0"
        assert {metadata, "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8"} <= set(block["except"])
        assert any(p["port"] == 5432 for rule in rules(name) for p in rule.get("ports", [])), name
    # The Ray pods run tenants' models: DNS, the store, each other; no database, no public address, no service.
    ray = rules("ray-egress")
    assert not any(p["port"] in (5432, 8081, 8082, 8083) for rule in ray for p in rule.get("ports", []))
    assert all(block["cidr"] != "0.0.0.0/0" for rule in ray for block in blocks(rule))  # store: egressTo given
    # Without objectStore.egressTo, the store's ports (80 among them) reach anything but the metadata range.
    minimal = objects_of(rendered["minimal"], "NetworkPolicy")["demo-automl-training-worker"]["spec"]["egress"]
    store = [rule for rule in minimal if any(p["port"] == 8333 for p in rule.get("ports", []))]
    assert blocks(store[0]) == [{"cidr": "0.0.0.0/0", "except": [metadata]}]


def test_ray_workers_hold_no_token_and_write_only_their_tmp(rendered: dict[str, Any]) -> None:
    (ray,) = [obj for obj in every_object(rendered["everything"]) if obj["kind"] == "RayCluster"]
    worker = ray["spec"]["workerGroupSpecs"][0]["template"]["spec"]
    assert worker["serviceAccountName"] == "demo-automl-ray-worker"
    assert worker["automountServiceAccountToken"] is False
    accounts = objects_of(rendered["everything"], "ServiceAccount")
    assert accounts["demo-automl-ray-worker"]["automountServiceAccountToken"] is False
    head = ray["spec"]["headGroupSpec"]["template"]["spec"]
    for pod in (worker, head):
        (container,) = pod["containers"]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
        assert {"name": "tmp", "emptyDir": {}} in pod["volumes"]


def test_images_can_be_pinned_by_digest() -> None:
    digest = "sha256:" + "ab" * 32
    pinned = every_object(render(with_(MINIMAL, "image.digests", {"gateway": digest, "trainer-svc": digest})))
    deployments = {obj["metadata"]["name"]: obj for obj in pinned if obj["kind"] == "Deployment"}
    image = deployments["demo-automl-gateway"]["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == f"ghcr.io/automl-platform/gateway@{digest}"
    trainer = deployments["demo-automl-trainer"]["spec"]["template"]["spec"]["containers"][0]
    assert env_of(trainer)["AUTOML_TRAINER_K8S_IMAGE"].endswith(f"/trainer-svc@{digest}")  # its Jobs' too
    dataset = deployments["demo-automl-dataset"]["spec"]["template"]["spec"]["containers"][0]["image"]
    assert dataset.endswith("/dataset-svc:0.1.0")  # no digest given: the tag
    with pytest.raises(helm.HelmError):
        render(with_(MINIMAL, "image.digests", {"gateway": "latest"}))


def routed(path: str, ingress_paths: list[dict[str, Any]]) -> bool:
    """Whether the Ingress sends ``path`` on, as Kubernetes matches paths (Exact; Prefix by path elements)."""
    for rule in ingress_paths:
        if rule["pathType"] == "Exact" and path == rule["path"]:
            return True
        if rule["pathType"] == "Prefix" and (path == rule["path"] or path.startswith(rule["path"].rstrip("/") + "/")):
            return True
    return False


def test_the_ingress_routes_the_gateways_public_surface_and_not_its_probes(
    rendered: dict[str, Any], tmp_path: Any
) -> None:
    """The finding: /metrics and /readyz of the gateway were public behind the Ingress."""
    from starlette.routing import Mount

    from gateway.app import create_app
    from gateway.settings import GatewaySettings
    from tests.support.routes import app_routes

    ingress = objects_of(rendered["everything"], "Ingress")["demo-automl"]
    paths = ingress["spec"]["rules"][0]["http"]["paths"]
    app = create_app(GatewaySettings(data_dir=tmp_path))
    probes = {"/metrics", "/readyz", "/healthz"}
    public = {route.path for route in app_routes(app)} - probes
    mounts = {route.path for route in app.routes if isinstance(route, Mount)}
    assert {"/", "/login", "/datasets", "/v1/keys", "/v1/orgs/me", "/docs", "/openapi.json"} <= public
    assert {"/static", "/docs/static"} <= mounts
    for path in sorted(public | mounts | {"/v1/datasets/ds_1", "/v1/deployments/dep_1/predict", "/docs/static/x.js"}):
        assert routed(path.replace("{", "").replace("}", ""), paths), path
    for path in probes:
        assert not routed(path, paths), path
