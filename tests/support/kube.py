"""A Kubernetes API server for tests: kmock's emulator on loopback, plus the few things of a real API server
the Job backend relies on (a uid and namespace on every created object, label selectors on lists). It runs
no controllers: a test plays the Job controller and the kubelet by writing Job and Pod status itself."""

from __future__ import annotations

import datetime
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import kmock
import pytest_asyncio
from kmock._internal import rendering


class ApiServer(kmock.KubernetesEmulator):
    async def _handle(self, request: rendering.Request) -> Any:
        if request.resource is not None and request.action == kmock.action.CREATE and isinstance(request.data, dict):
            meta = request.data.setdefault("metadata", {})
            meta["uid"] = str(uuid.uuid4())
            meta.setdefault("namespace", request.namespace)
            meta["creationTimestamp"] = datetime.datetime.now(datetime.UTC).isoformat()
        return await super()._handle(request)

    async def _serve_list(self, request: rendering.Request) -> Any:
        found: Any = await super()._serve_list(request)
        selector = request.params.get("labelSelector")
        if selector:
            wanted = dict(part.split("=", 1) for part in selector.split(","))
            found["items"] = [
                item
                for item in found["items"]
                if all((item.get("metadata", {}).get("labels") or {}).get(k) == v for k, v in wanted.items())
            ]
        return found


@pytest_asyncio.fixture
async def api_server() -> AsyncIterator[ApiServer]:
    async with ApiServer() as server, kmock.Server(server, host="127.0.0.1"):
        for resource in ("batch/v1/jobs", "v1/pods", "v1/secrets", "v1/services"):
            server.resources[resource] = kmock.ResourceInfo()
        yield server


def kubeconfig(url: str, path: Path, namespace: str = "training") -> Path:
    """A kubeconfig for the API server at ``url``, as an operator would write one (JSON is YAML too)."""
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "test", "cluster": {"server": url.rstrip("/")}}],
                "users": [{"name": "trainer", "user": {"token": "test-token"}}],
                "contexts": [
                    {"name": "test", "context": {"cluster": "test", "user": "trainer", "namespace": namespace}}
                ],
                "current-context": "test",
            }
        )
    )
    return path


class Controller:
    """What the Job controller and the kubelet would write, for one namespace."""

    def __init__(self, server: ApiServer, namespace: str) -> None:
        self.server = server
        self.namespace = namespace

    def job(self, name: str) -> dict[str, Any]:
        return self.object("batch/v1/jobs", name)

    def object(self, resource: str, name: str) -> dict[str, Any]:
        found: dict[str, Any] = plain(self.server.objects[resource, self.namespace, name])
        return found

    def jobs(self) -> list[str]:
        return [
            name
            for resource, namespace, name in self.server.objects
            if resource == kmock.resource("batch/v1/jobs")
            and namespace == self.namespace
            and not self.server.objects[resource, namespace, name].deleted
        ]

    def set_job_condition(self, name: str, kind: str, reason: str = "", message: str = "") -> None:
        condition = {"type": kind, "status": "True", "reason": reason, "message": message}
        self.server.objects["batch/v1/jobs", self.namespace, name].patch({"status": {"conditions": [condition]}})

    def patch_job(self, name: str, patch: dict[str, Any]) -> None:
        self.server.objects["batch/v1/jobs", self.namespace, name].patch(patch)

    def pod(self, job: str, index: int = 0, *, phase: str = "Pending", **status: Any) -> str:
        """A pod of ``job`` (labels and containers from its template), with this status."""
        template = self.job(job)["spec"]["template"]
        name = f"{job}-{index}-{uuid.uuid4().hex[:5]}"
        self.server.objects["v1/pods", self.namespace, name] = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "namespace": self.namespace,
                "labels": dict(template["metadata"]["labels"]),
                "annotations": {"batch.kubernetes.io/job-completion-index": str(index)},
                "creationTimestamp": datetime.datetime.now(datetime.UTC).isoformat(),
            },
            "spec": template["spec"],
            "status": {"phase": phase, **status},
        }
        return name

    @staticmethod
    def terminated(code: int, reason: str = "Error", message: str = "") -> dict[str, Any]:
        state = {"terminated": {"exitCode": code, "reason": reason, "message": message}}
        return {"containerStatuses": [{"name": "worker", "state": state}]}

    @staticmethod
    def waiting(reason: str, message: str = "") -> dict[str, Any]:
        return {"containerStatuses": [{"name": "worker", "state": {"waiting": {"reason": reason, "message": message}}}]}


def plain(value: Any) -> Any:
    if hasattr(value, "items"):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value
