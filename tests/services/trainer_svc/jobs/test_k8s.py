"""The Kubernetes backend against a Kubernetes API server on loopback (kmock's emulator): the Job it renders,
create and adopt, each status mapping (this test writes Job and Pod status as the Job controller and the
kubelet would), logs, cancel, and which API errors are retried."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.jobs import job_spec
from tests.support.kube import ApiServer, Controller, api_server, kubeconfig
from trainer_svc.jobs.backend import JobBackendError
from trainer_svc.jobs.k8s import KubernetesBackend, job_name
from trainer_svc.settings import TrainerSettings

__all__ = ["api_server"]
NAMESPACE = "training"


def settings_for(server: ApiServer, tmp_path: Path, **overrides: Any) -> TrainerSettings:
    values: dict[str, Any] = {
        "job_backend": "kubernetes",
        "k8s_kubeconfig": kubeconfig(str(server.url), tmp_path / "kubeconfig", NAMESPACE),
        "k8s_image": "registry.example/automl/worker:1.2.3",
        "k8s_service_account": "automl-training",
        "k8s_node_selector": {"gpu": "a100"},
        "k8s_tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        "k8s_priority_class": "training",
        "k8s_config_map": "automl-worker",
        "k8s_secret": "automl-worker-store",
        "k8s_api_backoff_s": 0.01,
        "data_dir": tmp_path / "data",
    }
    return TrainerSettings(**(values | overrides))


@pytest.fixture
def cluster(api_server: ApiServer) -> Controller:
    return Controller(api_server, NAMESPACE)


@pytest.fixture
async def backend(api_server: ApiServer, tmp_path: Path):
    jobs = KubernetesBackend(settings_for(api_server, tmp_path))
    yield jobs
    await jobs.aclose()


async def test_the_rendered_job(backend: KubernetesBackend, cluster: Controller) -> None:
    spec = job_spec(gpus=2, deadline_s=3600)
    handle = await backend.submit(spec)
    name = job_name(spec)
    assert handle == backend.handle_for(spec) == f"k8s:{NAMESPACE}/{name}"
    assert name == "train-model-01jtestmodel0000000000000a-1"
    job = cluster.job(name)
    labels = job["metadata"]["labels"]
    assert labels["automl.dev/org"] == spec.org_id
    assert labels["automl.dev/model"] == spec.model_id
    assert labels["app.kubernetes.io/component"] == "training-worker"
    body = job["spec"]
    assert body["backoffLimit"] == 0
    assert body["activeDeadlineSeconds"] == 3600  # the model's option, within the maximum
    assert body["ttlSecondsAfterFinished"] == 3600
    assert "suspend" not in body
    rules = body["podFailurePolicy"]["rules"]
    assert rules[0] == {
        "action": "FailJob",
        "onExitCodes": {"containerName": "worker", "operator": "In", "values": [2]},
    }
    assert rules[1] == {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}
    pod = body["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["serviceAccountName"] == "automl-training"
    assert pod["automountServiceAccountToken"] is False  # a worker never talks to the API server
    assert pod["nodeSelector"] == {"gpu": "a100"}
    assert pod["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert pod["priorityClassName"] == "training"
    (container,) = pod["containers"]
    assert container["image"] == "registry.example/automl/worker:1.2.3"
    assert container["command"] == ["python", "-m", "trainer_svc.worker"]
    assert container["resources"]["limits"] == {"cpu": "8", "memory": "32Gi", "nvidia.com/gpu": "2"}
    assert container["resources"]["requests"] == {"cpu": "2", "memory": "8Gi", "nvidia.com/gpu": "2"}
    assert container["envFrom"] == [
        {"configMapRef": {"name": "automl-worker"}},
        {"secretRef": {"name": "automl-worker-store"}},
    ]
    env = {item["name"]: item for item in container["env"]}
    assert env["AUTOML_JOB_SPEC"]["valueFrom"]["secretKeyRef"] == {"name": f"{name}-spec", "key": "spec.json"}
    assert env["AUTOML_WORKER_NPROC_PER_NODE"]["value"] == "2"  # torchrun: one process per GPU
    assert env["AUTOML_WORKER_DEVICE"]["value"] == "cuda"  # no GPU seen: the run fails saying so
    assert "NVIDIA_VISIBLE_DEVICES" not in env  # the device plugin gives the pod its GPUs
    assert all("value" not in item or spec.token not in item["value"] for item in container["env"])
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}

    secret = cluster.object("v1/secrets", f"{name}-spec")
    (owner,) = secret["metadata"]["ownerReferences"]
    assert owner == {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "name": name,
        "uid": job["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }
    assert json.loads(secret["stringData"]["spec.json"])["token"] == spec.token


async def test_kueue_jobs_are_created_suspended_and_wait_in_their_queue(
    api_server: ApiServer, cluster: Controller, tmp_path: Path
) -> None:
    jobs = KubernetesBackend(settings_for(api_server, tmp_path, k8s_kueue_queue="gpu-queue"))
    spec = job_spec()
    handle = await jobs.submit(spec)
    job = cluster.job(job_name(spec))
    assert job["spec"]["suspend"] is True
    assert job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "gpu-queue"
    status = await jobs.status(handle)
    assert (status.state, status.reason) == ("pending", "waiting in the Kueue queue gpu-queue")
    cluster.patch_job(job_name(spec), {"spec": {"suspend": False}})  # Kueue admits it
    cluster.pod(job_name(spec), phase="Running")
    assert (await jobs.status(handle)).state == "running"
    await jobs.aclose()


async def test_several_nodes_are_an_indexed_job_with_a_headless_service(
    backend: KubernetesBackend, cluster: Controller
) -> None:
    spec = job_spec(gpus=4, nodes=2)
    await backend.submit(spec)
    name = job_name(spec)
    body = cluster.job(name)["spec"]
    assert (body["completionMode"], body["completions"], body["parallelism"]) == ("Indexed", 2, 2)
    assert body["template"]["spec"]["subdomain"] == name
    env = {item["name"]: item for item in body["template"]["spec"]["containers"][0]["env"]}
    assert env["AUTOML_WORKER_NNODES"]["value"] == "2"
    assert env["AUTOML_WORKER_RDZV_ENDPOINT"]["value"] == f"{name}-0.{name}:29500"
    assert "job-completion-index" in env["AUTOML_WORKER_NODE_RANK"]["valueFrom"]["fieldRef"]["fieldPath"]
    service = cluster.object("v1/services", name)
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["selector"] == {"automl.dev/job": name}
    assert service["metadata"]["ownerReferences"][0]["name"] == name


async def test_a_job_without_gpus_trains_on_the_cpu_and_sees_no_gpu_of_its_node(
    api_server: ApiServer, cluster: Controller, tmp_path: Path
) -> None:
    jobs = KubernetesBackend(settings_for(api_server, tmp_path, k8s_default_gpus=0))
    await jobs.submit(spec := job_spec())
    (container,) = cluster.job(job_name(spec))["spec"]["template"]["spec"]["containers"]
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert env["AUTOML_WORKER_DEVICE"] == "cpu"
    assert env["NVIDIA_VISIBLE_DEVICES"] == "void"  # a CUDA image's default (all) would expose the node's GPUs
    assert "nvidia.com/gpu" not in container["resources"]["limits"]
    await jobs.aclose()


async def test_with_an_embedding_cache_claim_a_job_mounts_its_orgs_folder_of_it_only(
    api_server: ApiServer, cluster: Controller, tmp_path: Path
) -> None:
    jobs = KubernetesBackend(settings_for(api_server, tmp_path, k8s_embedding_cache_claim="automl-embeddings"))
    await jobs.submit(spec := job_spec())
    pod = cluster.job(job_name(spec))["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {item["name"]: item.get("value") for item in container["env"]}
    (mount,) = [mount for mount in container["volumeMounts"] if mount["name"] == "embeddings"]
    # Where the worker keeps the org's embeddings (its cache dir / embeddings / org), and that org's folder only.
    assert mount == {
        "name": "embeddings",
        "mountPath": f"{env['AUTOML_WORKER_CACHE_DIR']}/embeddings/{spec.org_id}",
        "subPath": spec.org_id,
    }
    assert {"name": "embeddings", "persistentVolumeClaim": {"claimName": "automl-embeddings"}} in pod["volumes"]
    await jobs.aclose()
    without = KubernetesBackend(settings_for(api_server, tmp_path))
    await without.submit(other := job_spec(attempt=2))
    pod = cluster.job(job_name(other))["spec"]["template"]["spec"]
    assert "embeddings" not in {volume["name"] for volume in pod["volumes"]}
    await without.aclose()


async def test_the_deadline_is_the_settings_unless_the_model_asks_less(
    api_server: ApiServer, cluster: Controller, tmp_path: Path
) -> None:
    jobs = KubernetesBackend(settings_for(api_server, tmp_path, job_deadline_s=7200, max_job_deadline_s=9000))
    await jobs.submit(first := job_spec(attempt=1))
    await jobs.submit(second := job_spec(attempt=2, deadline_s=86_400))
    assert cluster.job(job_name(first))["spec"]["activeDeadlineSeconds"] == 7200
    assert cluster.job(job_name(second))["spec"]["activeDeadlineSeconds"] == 9000  # capped by the maximum
    await jobs.aclose()


async def test_a_second_submit_adopts_the_job(backend: KubernetesBackend, cluster: Controller) -> None:
    spec = job_spec()
    first = await backend.submit(spec)
    again = job_spec()
    again.token = "another-token-" + "y" * 30  # a new submission of the same attempt
    assert await backend.submit(again) == first
    assert cluster.jobs() == [job_name(spec)]
    secret = cluster.object("v1/secrets", f"{job_name(spec)}-spec")
    assert json.loads(secret["stringData"]["spec.json"])["token"] == again.token  # the token now valid


async def test_status_from_job_and_pod_conditions(backend: KubernetesBackend, cluster: Controller) -> None:
    cases = []
    for attempt in range(1, 10):
        spec = job_spec(attempt=attempt)
        cases.append((await backend.submit(spec), job_name(spec)))
    (h0, j0), (h1, j1), (h2, j2), (h3, j3), (h4, j4), (h5, j5), (h6, j6), (h7, j7), (h8, j8) = cases

    assert (await backend.status(h0)).state == "pending"  # no pod yet
    unschedulable = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}
    unschedulable["message"] = "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."
    cluster.pod(j0, conditions=[unschedulable])
    status = await backend.status(h0)
    assert status.state == "pending"
    assert status.reason == "waiting for 1 nvidia.com/gpu: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu."

    cluster.pod(j1, **cluster.waiting("ImagePullBackOff", 'Back-off pulling image "registry.example/automl"'))
    status = await backend.status(h1)
    assert status.state == "failed"
    assert not status.restartable
    assert "cannot be pulled (ImagePullBackOff)" in (status.reason or "")

    cluster.pod(j2, phase="Failed", **cluster.terminated(137, "OOMKilled"))
    cluster.set_job_condition(j2, "Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")
    status = await backend.status(h2)
    assert (status.state, status.exit_code, status.restartable) == ("failed", 137, False)
    assert status.reason == "the worker ran out of memory (OOMKilled, limit 32Gi); give it more memory"

    cluster.pod(j3, phase="Running")
    cluster.set_job_condition(j3, "Failed", "DeadlineExceeded", "Job was active longer than specified deadline")
    status = await backend.status(h3)
    assert (status.state, status.restartable) == ("failed", False)
    assert status.reason == "the run exceeded its deadline of 86400 s (DeadlineExceeded)"

    cluster.pod(j4, phase="Failed", **cluster.terminated(2, message="no labelled rows"))
    cluster.set_job_condition(j4, "Failed", "PodFailurePolicy", "Container worker for pod exited with 2")
    status = await backend.status(h4)
    assert (status.state, status.exit_code, status.restartable) == ("failed", 2, False)
    assert status.reason == "the worker refused its input (exit code 2: bad input): no labelled rows"

    cluster.pod(j5, phase="Failed", **cluster.terminated(137))  # killed, not out of memory: a node went away
    cluster.set_job_condition(j5, "Failed", "BackoffLimitExceeded")
    status = await backend.status(h5)
    assert (status.state, status.exit_code, status.restartable) == ("failed", 137, True)
    assert status.reason == "the worker was killed by SIGKILL (out of memory?)"

    preempted = {"type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler"}
    cluster.pod(j6, phase="Failed", conditions=[preempted], **cluster.terminated(143))
    status = await backend.status(h6)  # ignored by the failure policy: the Job controller starts another pod
    assert (status.state, status.reason) == (
        "pending",
        "its pod was disrupted (PreemptionByScheduler); the Job starts another",
    )
    cluster.pod(j6, phase="Running")
    assert (await backend.status(h6)).state == "running"

    cluster.pod(j7, phase="Succeeded", **cluster.terminated(0))
    cluster.set_job_condition(j7, "Complete")
    assert (await backend.status(h7)).state == "succeeded"

    cluster.pod(j8, **cluster.waiting("CreateContainerConfigError", f'secret "{j8}-spec" not found'))
    status = await backend.status(h8)
    assert status.state == "pending"
    assert (status.reason or "").startswith("waiting for its configuration")

    assert (await backend.status(f"k8s:{NAMESPACE}/train-never-created-1")).state == "absent"


async def test_logs_come_from_the_newest_pod(
    backend: KubernetesBackend, cluster: Controller, api_server: ApiServer
) -> None:
    spec = job_spec()
    handle = await backend.submit(spec)
    assert await backend.logs(handle, 5) == ""  # no pod yet
    cluster.pod(job_name(spec), phase="Failed", **cluster.terminated(143))
    newest = cluster.pod(job_name(spec), phase="Running")
    logs = api_server[f"get /api/v1/namespaces/{NAMESPACE}/pods/{newest}/log"] << b"step 9\nstep 10\n"
    assert await backend.logs(handle, 2) == "step 9\nstep 10\n"
    (request,) = list(logs)
    assert request.params["tailLines"] == "2"
    assert request.params["container"] == "worker"


async def test_cancel_deletes_the_job_in_the_foreground(
    backend: KubernetesBackend, cluster: Controller, api_server: ApiServer
) -> None:
    spec = job_spec()
    handle = await backend.submit(spec)
    deletes = api_server["delete"]
    await backend.cancel(handle)
    (request,) = list(deletes)
    assert request.params["propagationPolicy"] == "Foreground"
    assert cluster.jobs() == []
    assert (await backend.status(handle)).state == "absent"
    await backend.cancel(handle)  # idempotent: the Job is gone already


async def test_a_500_is_retried_and_the_job_it_created_adopted(
    backend: KubernetesBackend, cluster: Controller, api_server: ApiServer
) -> None:
    failures = iter([{"kind": "Status", "code": 500, "message": "etcdserver: request timed out"}])
    creates = api_server[f"post /apis/batch/v1/namespaces/{NAMESPACE}/jobs"]  # counts every create
    api_server[f"post /apis/batch/v1/namespaces/{NAMESPACE}/jobs"] << 500 << (lambda: next(failures))  # once
    spec = job_spec()
    assert await backend.submit(spec) == backend.handle_for(spec)
    assert [getattr(error, "status", None) for error in api_server.errors] == [409]  # the conflict it adopted
    assert len(creates) == 2  # a 500 (after the write, as an API server may answer), then 409: adopted
    assert cluster.jobs() == [job_name(spec)]
    assert cluster.object("v1/secrets", f"{job_name(spec)}-spec")["metadata"]["ownerReferences"]


async def test_a_403_is_not_retried(backend: KubernetesBackend, api_server: ApiServer) -> None:
    refusal = {"kind": "Status", "code": 403, "message": 'jobs.batch is forbidden: User "system:x" cannot create'}
    creates = api_server[f"post /apis/batch/v1/namespaces/{NAMESPACE}/jobs"] << 403 << refusal
    with pytest.raises(JobBackendError) as refused:
        await backend.submit(job_spec())
    assert api_server.errors == []
    assert len(creates) == 1
    assert not refused.value.retriable
    assert "403" in str(refused.value) and "forbidden" in str(refused.value)


async def test_an_unreachable_api_is_retried_then_reported_as_retriable(tmp_path: Path) -> None:
    config = kubeconfig("http://127.0.0.1:9", tmp_path / "kubeconfig")  # nothing listens there
    jobs = KubernetesBackend(
        TrainerSettings(job_backend="kubernetes", k8s_kubeconfig=config, k8s_api_backoff_s=0.01, k8s_api_attempts=3)
    )
    with pytest.raises(JobBackendError) as unreachable:
        await jobs.submit(job_spec())
    assert unreachable.value.retriable
    assert "unreachable" in str(unreachable.value)
    await jobs.aclose()
