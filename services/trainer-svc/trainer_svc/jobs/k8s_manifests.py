"""What a training run becomes on Kubernetes (``render``): a Job named after the model and attempt, labelled for
its org, model and component; the worker's image, command and service account from the settings (the pod's
API token is not mounted: a worker never talks to the API server); ``restartPolicy: Never``, a backoff limit,
a deadline (the model's option within the setting's maximum), a TTL, and a pod failure policy that fails the
Job at once on the worker's bad-input exit code and ignores disruptions (preemption, eviction: the pod is
replaced and the worker resumes from its checkpoint). GPUs are ``nvidia.com/gpu`` limits; CPU and memory
requests and limits, node selector, tolerations and priority class come from the settings; with a Kueue queue
the Job is created suspended, labelled for the queue. With an embedding cache claim, the pod mounts its org's
folder of it where the worker keeps that org's embeddings, so a retraining in another Job reads them. The job
spec (it holds the job's token) lives in a Secret owned by the Job, so both go together. Several nodes: an
Indexed Job and a headless Service for the rendezvous."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from automl_proto.training import JobSpec
from trainer_svc.jobs.exits import WorkerExit
from trainer_svc.settings import TrainerSettings

CONTAINER = "worker"
# In the pod, not on this host: emptyDir volumes of the pod's own (its root filesystem is read-only).
POD_TMP, POD_CACHE, POD_SHM = "/tmp", "/cache", "/dev/shm"  # noqa: S108
LABEL_JOB = "automl.dev/job"
LABEL_ORG = "automl.dev/org"
LABEL_MODEL = "automl.dev/model"
KUEUE_QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
IMAGE_ERRORS = frozenset({"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"})
NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def job_name(spec: JobSpec) -> str:
    """``train-<model id>-<attempt>``: a DNS label (lower case, at most 63 characters with a pod's suffix)."""
    base = re.sub(r"[^a-z0-9-]", "-", f"train-{spec.model_id.lower()}")[:50].strip("-")
    return f"{base}-{spec.attempt}"


@dataclass(frozen=True)
class Topology:
    """Processes per pod and pods: ``gpus`` x ``nodes`` ranks in all."""

    gpus: int
    nodes: int

    @classmethod
    def of(cls, spec: JobSpec, default_gpus: int) -> Topology:
        gpus = spec.options.gpus if spec.options.gpus is not None else default_gpus
        return cls(gpus, spec.options.nodes)

    @property
    def processes(self) -> int:
        return max(1, self.gpus)


def render(spec: JobSpec, settings: TrainerSettings, namespace: str) -> dict[str, dict[str, Any]]:
    """The manifests of one run: ``job``, ``secret`` (owner set once the Job exists) and, across nodes,
    ``service``."""
    name = job_name(spec)
    topology = Topology.of(spec, settings.k8s_default_gpus)
    deadline = min(spec.options.deadline_s or settings.job_deadline_s, settings.max_job_deadline_s)
    labels = {
        **settings.k8s_labels,
        "app.kubernetes.io/name": "automl",
        "app.kubernetes.io/component": "training-worker",
        "app.kubernetes.io/managed-by": "trainer-svc",
        LABEL_JOB: name,
        LABEL_MODEL: spec.model_id,
    }
    if spec.org_id:
        labels[LABEL_ORG] = spec.org_id
    job_labels = dict(labels)
    if settings.k8s_kueue_queue:
        job_labels[KUEUE_QUEUE_LABEL] = settings.k8s_kueue_queue
    limits: dict[str, str] = {}
    requests = {"cpu": settings.k8s_cpu_request, "memory": settings.k8s_memory_request}
    if settings.k8s_cpu_limit:
        limits["cpu"] = settings.k8s_cpu_limit
    if settings.k8s_memory_limit:
        limits["memory"] = settings.k8s_memory_limit
    if topology.gpus:
        limits[settings.k8s_gpu_resource] = str(topology.gpus)
        requests[settings.k8s_gpu_resource] = str(topology.gpus)
    env: list[dict[str, Any]] = [
        {"name": "AUTOML_JOB_SPEC", "valueFrom": {"secretKeyRef": {"name": f"{name}-spec", "key": "spec.json"}}},
        {"name": "AUTOML_WORKER_CACHE_DIR", "value": POD_CACHE},
        {"name": "AUTOML_WORKER_NPROC_PER_NODE", "value": str(topology.processes)},
        {"name": "AUTOML_WORKER_NNODES", "value": str(topology.nodes)},
        {"name": "HOME", "value": POD_TMP},
        {"name": "TMPDIR", "value": POD_TMP},
        {"name": "HF_HUB_OFFLINE", "value": "1"},
    ]
    if topology.gpus:
        # A GPU pod that finds none (a CPU build of torch, no driver) fails with that reason, not slowly on CPU.
        env.append({"name": "AUTOML_WORKER_DEVICE", "value": "cuda"})
    else:
        # CUDA images set NVIDIA_VISIBLE_DEVICES=all: a pod that asked for no GPU would see every GPU of its
        # node (the device plugin did not give it any) and train on one another pod holds.
        env += [
            {"name": "AUTOML_WORKER_DEVICE", "value": "cpu"},
            {"name": "NVIDIA_VISIBLE_DEVICES", "value": "void"},
        ]
    if topology.nodes > 1:
        env += [
            {
                "name": "AUTOML_WORKER_NODE_RANK",
                "valueFrom": {
                    "fieldRef": {"fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"}
                },
            },
            {"name": "AUTOML_WORKER_RDZV_ENDPOINT", "value": f"{name}-0.{name}:{settings.k8s_rendezvous_port}"},
        ]
    env_from: list[dict[str, Any]] = []
    if settings.k8s_config_map:
        env_from.append({"configMapRef": {"name": settings.k8s_config_map}})
    if settings.k8s_secret:
        env_from.append({"secretRef": {"name": settings.k8s_secret}})
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": settings.k8s_image,
        "imagePullPolicy": settings.k8s_image_pull_policy,
        "command": list(settings.k8s_command),
        "env": env,
        "envFrom": env_from,
        "resources": {"requests": requests, "limits": limits},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "tmp", "mountPath": POD_TMP},
            {"name": "cache", "mountPath": POD_CACHE},
            {"name": "shm", "mountPath": POD_SHM},
        ],
    }
    if settings.k8s_embedding_cache_claim and spec.org_id:
        # Where the worker keeps its org's embeddings (cache dir / embeddings / org): that org's folder of the
        # shared claim, and nothing else of it.
        container["volumeMounts"].append(
            {"name": "embeddings", "mountPath": f"{POD_CACHE}/embeddings/{spec.org_id}", "subPath": spec.org_id}
        )
    if topology.nodes > 1:
        container["ports"] = [{"name": "rendezvous", "containerPort": settings.k8s_rendezvous_port}]
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": settings.k8s_termination_grace_s,
        "containers": [container],
        "volumes": [
            {"name": "tmp", "emptyDir": {}},
            {"name": "cache", "emptyDir": {}},
            {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": settings.k8s_shm_size}},
        ],
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
    }
    if settings.k8s_embedding_cache_claim and spec.org_id:
        claim = {"claimName": settings.k8s_embedding_cache_claim}
        pod_spec["volumes"].append({"name": "embeddings", "persistentVolumeClaim": claim})
    if settings.k8s_service_account:
        pod_spec["serviceAccountName"] = settings.k8s_service_account
    if settings.k8s_node_selector:
        pod_spec["nodeSelector"] = dict(settings.k8s_node_selector)
    if settings.k8s_tolerations:
        pod_spec["tolerations"] = list(settings.k8s_tolerations)
    if settings.k8s_priority_class:
        pod_spec["priorityClassName"] = settings.k8s_priority_class
    if topology.nodes > 1:
        pod_spec["subdomain"] = name  # <job>-<index>.<job> resolves through the headless Service
    job_spec: dict[str, Any] = {
        "backoffLimit": settings.k8s_backoff_limit,
        "activeDeadlineSeconds": deadline,
        "ttlSecondsAfterFinished": settings.k8s_ttl_s,
        "podFailurePolicy": {
            "rules": [
                {
                    "action": "FailJob",
                    "onExitCodes": {
                        "containerName": CONTAINER,
                        "operator": "In",
                        "values": [int(WorkerExit.BAD_INPUT)],
                    },
                },
                {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
            ]
        },
        "template": {"metadata": {"labels": labels}, "spec": pod_spec},
    }
    if topology.nodes > 1:
        job_spec |= {"completionMode": "Indexed", "completions": topology.nodes, "parallelism": topology.nodes}
    if settings.k8s_kueue_queue:
        job_spec["suspend"] = True  # Kueue admits it (unsuspends) when the queue has room
    manifests: dict[str, dict[str, Any]] = {
        "job": {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": name, "namespace": namespace, "labels": job_labels},
            "spec": job_spec,
        },
        "secret": {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": f"{name}-spec", "namespace": namespace, "labels": labels},
            "type": "Opaque",
            "stringData": {"spec.json": spec.model_dump_json()},
        },
    }
    if topology.nodes > 1:
        manifests["service"] = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {
                "clusterIP": "None",
                "selector": {LABEL_JOB: name},
                "publishNotReadyAddresses": True,
                "ports": [{"name": "rendezvous", "port": settings.k8s_rendezvous_port}],
            },
        }
    return manifests


def owned_by(job: dict[str, Any]) -> dict[str, Any]:
    meta = job["metadata"]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }
