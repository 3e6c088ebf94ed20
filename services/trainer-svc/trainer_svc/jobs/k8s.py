"""The Kubernetes backend: one ``batch/v1`` Job per training run (per attempt), through the official client.

What a run becomes (``render``): a Job named after the model and attempt, labelled for its org, model and
component; the worker's image, command and service account from the settings (the pod's API token is not
mounted: a worker never talks to the API server); ``restartPolicy: Never``, a backoff limit, a deadline
(the model's option within the setting's maximum), a TTL, and a pod failure policy that fails the Job at once
on the worker's bad-input exit code and ignores disruptions (preemption, eviction: the pod is replaced and
the worker resumes from its checkpoint). GPUs are ``nvidia.com/gpu`` limits; CPU and memory requests and
limits, node selector, tolerations and priority class come from the settings; with a Kueue queue the Job is
created suspended, labelled for the queue. The job spec (it holds the job's token) lives in a Secret owned
by the Job, so both go together. Several nodes: an Indexed Job and a headless Service for the rendezvous.

How a run is read (``job_status``): from the Job's conditions and its pods' conditions and container
states, as the Job controller and the kubelet write them."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import urllib3
from kubernetes import client, config

from automl_proto.training import JobSpec
from trainer_svc.jobs.backend import JobBackendError, JobStatus
from trainer_svc.jobs.exits import WorkerExit, read_exit
from trainer_svc.settings import TrainerSettings

logger = logging.getLogger("automl.trainer.k8s")

T = TypeVar("T")
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


# -- reading a run's state ----------------------------------------------------------------------------------
def _true_conditions(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("status") == "True"}


def _worker_state(pod: dict[str, Any]) -> dict[str, Any]:
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") == CONTAINER:
            state: dict[str, Any] = status.get("state") or {}
            return state
    return {}


def _created(obj: dict[str, Any]) -> str:
    return str(obj.get("metadata", {}).get("creationTimestamp") or "")


def _terminated_status(pods: list[dict[str, Any]]) -> JobStatus | None:
    """How the last pod that failed ended: out of memory, or the worker's exit code."""
    for pod in sorted(pods, key=_created, reverse=True):
        terminated = _worker_state(pod).get("terminated")
        if not terminated or terminated.get("exitCode", 0) == 0:
            continue
        code = int(terminated["exitCode"])
        if terminated.get("reason") == "OOMKilled":
            limit = _memory_limit(pod)
            return JobStatus(
                "failed", read_exit(code), f"the worker ran out of memory (OOMKilled{limit}); give it more memory"
            )
        detail = terminated.get("message") or ""
        status = JobStatus.exited(code)
        if detail:
            status.reason = f"{status.reason}: {detail.strip()[:500]}"
        return status
    return None


def _memory_limit(pod: dict[str, Any]) -> str:
    for container in (pod.get("spec") or {}).get("containers") or []:
        if container.get("name") == CONTAINER:
            limit = ((container.get("resources") or {}).get("limits") or {}).get("memory")
            return f", limit {limit}" if limit else ""
    return ""


def _requested(pod: dict[str, Any], resource: str) -> str | None:
    for container in (pod.get("spec") or {}).get("containers") or []:
        if container.get("name") == CONTAINER:
            value = ((container.get("resources") or {}).get("limits") or {}).get(resource)
            return str(value) if value else None
    return None


def job_status(job: dict[str, Any], pods: list[dict[str, Any]], resource: str = "nvidia.com/gpu") -> JobStatus:
    """A run's state from its Job's conditions and its pods (newest first decides)."""
    conditions = _true_conditions(job)
    spec = job.get("spec") or {}
    if "Complete" in conditions or "SuccessCriteriaMet" in conditions:
        return JobStatus("succeeded", read_exit(0))
    failed = conditions.get("Failed") or conditions.get("FailureTarget")
    if failed is not None:
        reason = failed.get("reason") or ""
        if reason == "DeadlineExceeded":
            seconds = spec.get("activeDeadlineSeconds")
            return JobStatus("failed", None, f"the run exceeded its deadline of {seconds} s (DeadlineExceeded)")
        ended = _terminated_status(pods)
        if ended is not None:
            if reason == "PodFailurePolicy":
                ended.restartable = False
            return ended
        message = failed.get("message") or reason or "the Job failed"
        return JobStatus("failed", None, f"the Job failed: {message}")
    if job.get("metadata", {}).get("deletionTimestamp"):
        return JobStatus("lost", None, "the Job is being deleted", restartable=True)
    if spec.get("suspend"):
        queue = job.get("metadata", {}).get("labels", {}).get(KUEUE_QUEUE_LABEL)
        where = f"in the Kueue queue {queue}" if queue else "(the Job is suspended)"
        return JobStatus("pending", None, f"waiting {where}")
    live = [p for p in pods if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
    for pod in sorted(live, key=_created, reverse=True):
        status = pod.get("status") or {}
        if status.get("phase") == "Running":
            return JobStatus("running")
        waiting = _worker_state(pod).get("waiting") or {}
        why = waiting.get("reason")
        if why in IMAGE_ERRORS:
            image = next((c.get("image") for c in pod.get("spec", {}).get("containers", [])), "?")
            detail = waiting.get("message", "")
            return JobStatus("failed", None, f"the worker image {image} cannot be pulled ({why}): {detail}")
        if why == "CreateContainerConfigError":
            return JobStatus("pending", None, f"waiting for its configuration: {waiting.get('message', '')}")
        scheduled = next((c for c in status.get("conditions") or [] if c.get("type") == "PodScheduled"), None)
        if scheduled is not None and scheduled.get("status") == "False":
            gpus = _requested(pod, resource)
            wanted = f"waiting for {gpus} {resource}" if gpus else "waiting for a node"
            return JobStatus("pending", None, f"{wanted}: {scheduled.get('message', 'unschedulable')}")
        return JobStatus("pending", None, f"starting ({why or status.get('phase', 'Pending')})")
    disrupted = [p for p in pods if "DisruptionTarget" in _true_conditions(p)]
    if disrupted:
        why = _true_conditions(disrupted[0])["DisruptionTarget"].get("reason", "disrupted")
        return JobStatus("pending", None, f"its pod was disrupted ({why}); the Job starts another")
    return JobStatus("pending", None, "waiting for the Job controller to start its pod")


# -- the backend ----------------------------------------------------------------------------------------------
def load_api(settings: TrainerSettings) -> client.ApiClient:
    """A kubeconfig (the setting's), else the in-cluster service account, else ``~/.kube/config``."""
    configuration = client.Configuration()
    if settings.k8s_kubeconfig is not None:
        config.load_kube_config(
            config_file=str(settings.k8s_kubeconfig), context=settings.k8s_context, client_configuration=configuration
        )
    else:
        try:
            config.load_incluster_config(client_configuration=configuration)
        except config.ConfigException:
            config.load_kube_config(context=settings.k8s_context, client_configuration=configuration)
    configuration.retries = False  # the backend owns the retry policy (5xx and connection errors only)
    return client.ApiClient(configuration)


def default_namespace(settings: TrainerSettings) -> str:
    """The setting, else the kubeconfig context's namespace, else this pod's, else ``default``."""
    if settings.k8s_namespace:
        return settings.k8s_namespace
    if settings.k8s_kubeconfig is not None:
        _, active = config.list_kube_config_contexts(config_file=str(settings.k8s_kubeconfig))
        if settings.k8s_context:
            contexts, _ = config.list_kube_config_contexts(config_file=str(settings.k8s_kubeconfig))
            active = next((c for c in contexts if c["name"] == settings.k8s_context), active)
        namespace = (active or {}).get("context", {}).get("namespace")
        if namespace:
            return str(namespace)
    try:
        return NAMESPACE_FILE.read_text().strip() or "default"
    except OSError:
        return "default"


class KubernetesBackend:
    def __init__(self, settings: TrainerSettings, api: client.ApiClient | None = None) -> None:
        self.settings = settings
        self.api = api or load_api(settings)
        self.namespace = default_namespace(settings)
        self.batch = client.BatchV1Api(self.api)
        self.core = client.CoreV1Api(self.api)
        self._active: set[str] = set()

    # -- calls: retried on 5xx and connection errors, never on 4xx ----------------------------------------
    async def _call(self, what: str, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        attempts = self.settings.k8s_api_attempts
        for attempt in range(1, attempts + 1):
            try:
                return await asyncio.to_thread(function, *args, **kwargs)
            except client.ApiException as error:
                if (error.status is not None and 400 <= error.status < 500) or attempt == attempts:
                    raise
                logger.warning("%s: %s %s (attempt %d of %d)", what, error.status, error.reason, attempt, attempts)
            except (urllib3.exceptions.HTTPError, OSError) as error:
                if attempt == attempts:
                    message = f"{what}: the Kubernetes API is unreachable: {error}"
                    raise JobBackendError(message, retriable=True) from error
                logger.warning("%s: %s (attempt %d of %d)", what, error, attempt, attempts)
            await asyncio.sleep(self.settings.k8s_api_backoff_s * 2 ** (attempt - 1))
        raise AssertionError("unreachable")

    async def _read(self, what: str, function: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        response = await self._call(what, function, *args, _preload_content=False, **kwargs)
        body: dict[str, Any] = json.loads(response.data)
        return body

    @staticmethod
    def _refused(what: str, error: client.ApiException) -> JobBackendError:
        detail = error.reason or ""
        with contextlib.suppress(ValueError, AttributeError):
            detail = json.loads(error.body or "{}").get("message") or detail
        retriable = error.status is None or error.status >= 500 or error.status == 429
        return JobBackendError(f"{what}: Kubernetes answered {error.status}: {detail}", retriable=retriable)

    # -- the contract ------------------------------------------------------------------------------------------
    def handle_for(self, spec: JobSpec) -> str:
        return f"k8s:{self.namespace}/{job_name(spec)}"

    @staticmethod
    def _parse(handle: str) -> tuple[str, str]:
        kind, _, rest = handle.partition(":")
        namespace, _, name = rest.partition("/")
        if kind != "k8s" or not namespace or not name:
            raise JobBackendError(f"not a Kubernetes job handle: {handle!r}")
        return namespace, name

    async def submit(self, spec: JobSpec) -> str:
        handle = self.handle_for(spec)
        manifests = render(spec, self.settings, self.namespace)
        name = manifests["job"]["metadata"]["name"]
        try:
            try:
                job = await self._read("create Job", self.batch.create_namespaced_job, self.namespace, manifests["job"])
            except client.ApiException as error:
                if error.status != 409:
                    raise
                job = await self._read("read Job", self.batch.read_namespaced_job, name, self.namespace)
                logger.info("Job %s exists already: adopted", name)
            owner = owned_by(job)
            for kind in ("secret", "service"):
                if kind in manifests:
                    manifests[kind]["metadata"]["ownerReferences"] = [owner]
                    await self._put(kind, manifests[kind])
        except client.ApiException as error:
            raise self._refused(f"submitting {name}", error) from error
        self._active.add(handle)
        return handle

    async def _put(self, kind: str, manifest: dict[str, Any]) -> None:
        create = {"secret": self.core.create_namespaced_secret, "service": self.core.create_namespaced_service}[kind]
        try:
            await self._call(f"create {kind}", create, self.namespace, manifest)
        except client.ApiException as error:
            if error.status != 409:
                raise
            if kind == "secret":  # adopted: the spec (and token) of this submission replaces the earlier one
                patch = {"metadata": {"ownerReferences": manifest["metadata"]["ownerReferences"]}}
                patch["stringData"] = manifest["stringData"]
                name = manifest["metadata"]["name"]
                await self._call("patch secret", self.core.patch_namespaced_secret, name, self.namespace, patch)

    async def _pods(self, namespace: str, name: str) -> list[dict[str, Any]]:
        found = await self._read(
            "list pods", self.core.list_namespaced_pod, namespace, label_selector=f"{LABEL_JOB}={name}"
        )
        pods: list[dict[str, Any]] = found.get("items") or []
        return pods

    async def status(self, handle: str) -> JobStatus:
        namespace, name = self._parse(handle)
        try:
            job = await self._read("read Job", self.batch.read_namespaced_job, name, namespace)
            pods = await self._pods(namespace, name)
        except client.ApiException as error:
            if error.status == 404:
                return JobStatus("absent", None, f"there is no Job {name} in {namespace}")
            raise self._refused(f"reading {name}", error) from error
        status = job_status(job, pods, self.settings.k8s_gpu_resource)
        if not status.finished:
            self._active.add(handle)  # counted, even when a predecessor of this trainer-svc submitted it
        return status

    async def logs(self, handle: str, tail_lines: int) -> str:
        """The last lines of the newest pod (the first index's, across nodes: rank 0 writes the events)."""
        namespace, name = self._parse(handle)
        try:
            pods = await self._pods(namespace, name)
            if not pods:
                return ""
            pods.sort(key=lambda p: (_index(p), _created(p)), reverse=False)
            first = [p for p in pods if _index(p) == _index(pods[0])]
            newest = max(first, key=_created)
            response = await self._call(
                "read log",
                self.core.read_namespaced_pod_log,
                newest["metadata"]["name"],
                namespace,
                container=CONTAINER,
                tail_lines=tail_lines,
                _preload_content=False,  # the client would give str(bytes) otherwise
            )
        except client.ApiException as error:
            if error.status in (400, 404):  # no pod yet, or its container never started
                return ""
            raise self._refused(f"reading the log of {name}", error) from error
        except JobBackendError:
            return ""
        return bytes(response.data).decode(errors="replace")

    async def cancel(self, handle: str) -> None:
        """Delete the Job with foreground propagation: its pods get SIGTERM, then the Job goes. Idempotent."""
        namespace, name = self._parse(handle)
        try:
            await self._call(
                "delete Job",
                self.batch.delete_namespaced_job,
                name,
                namespace,
                propagation_policy="Foreground",
                grace_period_seconds=self.settings.k8s_termination_grace_s,
            )
        except client.ApiException as error:
            if error.status != 404:
                raise self._refused(f"deleting {name}", error) from error

    def free_slots(self) -> int:
        return max(0, self.settings.k8s_max_jobs - len(self._active))

    def forget(self, handle: str) -> None:
        self._active.discard(handle)

    async def aclose(self) -> None:
        """Jobs go on running without trainer-svc; a new trainer-svc reads them by their handles."""
        await asyncio.to_thread(self.api.close)


def _index(pod: dict[str, Any]) -> int:
    annotations = pod.get("metadata", {}).get("annotations") or {}
    try:
        return int(annotations.get("batch.kubernetes.io/job-completion-index", 0))
    except ValueError:
        return 0
