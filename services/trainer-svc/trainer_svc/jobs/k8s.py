"""The Kubernetes backend: one ``batch/v1`` Job per training run (per attempt), through the official client.
What a run becomes is ``k8s_manifests.render``; how it is read, ``k8s_status.job_status``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import urllib3
from kubernetes import client, config

from automl_proto.training import JobSpec
from trainer_svc.jobs.backend import JobBackendError, JobStatus
from trainer_svc.jobs.k8s_manifests import CONTAINER, LABEL_JOB, NAMESPACE_FILE, job_name, owned_by, render
from trainer_svc.jobs.k8s_status import completion_index, created, job_status
from trainer_svc.settings import TrainerSettings

logger = logging.getLogger("automl.trainer.k8s")

T = TypeVar("T")

__all__ = ["KubernetesBackend", "job_name", "render"]


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
            pods.sort(key=lambda p: (completion_index(p), created(p)), reverse=False)
            first = [p for p in pods if completion_index(p) == completion_index(pods[0])]
            newest = max(first, key=created)
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
