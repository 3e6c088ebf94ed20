"""How a training run on Kubernetes is read (``job_status``): from the Job's conditions and its pods'
conditions and container states, as the Job controller and the kubelet write them."""

from __future__ import annotations

from typing import Any

from trainer_svc.jobs.backend import JobStatus
from trainer_svc.jobs.exits import read_exit
from trainer_svc.jobs.k8s_manifests import CONTAINER, IMAGE_ERRORS, KUEUE_QUEUE_LABEL


def _true_conditions(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("status") == "True"}


def _worker_state(pod: dict[str, Any]) -> dict[str, Any]:
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") == CONTAINER:
            state: dict[str, Any] = status.get("state") or {}
            return state
    return {}


def created(obj: dict[str, Any]) -> str:
    return str(obj.get("metadata", {}).get("creationTimestamp") or "")


def _terminated_status(pods: list[dict[str, Any]]) -> JobStatus | None:
    """How the last pod that failed ended: out of memory, or the worker's exit code."""
    for pod in sorted(pods, key=created, reverse=True):
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
    for pod in sorted(live, key=created, reverse=True):
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


def completion_index(pod: dict[str, Any]) -> int:
    annotations = pod.get("metadata", {}).get("annotations") or {}
    try:
        return int(annotations.get("batch.kubernetes.io/job-completion-index", 0))
    except ValueError:
        return 0
