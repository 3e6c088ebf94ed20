"""Runs each async task in the background: waits for its deployment to be ready, predicts, stores the result
and calls back (SSRF-guarded, retried with exponential backoff). Pending tasks survive a restart."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence

from automl_common.db import Database, utcnow
from automl_common.ssrf import FetchError, GuardedFetcher
from automl_common.worker import BackgroundWorker
from inference_svc.deployments import service as deployments
from inference_svc.deployments.calls import ServeCalls
from inference_svc.deployments.repository import DeploymentRepository
from inference_svc.errors import DeploymentNotReady
from inference_svc.inputs import restored
from inference_svc.serving.loader import ModelInput
from inference_svc.settings import InferenceSettings
from inference_svc.tasks.repository import TaskRepository
from inference_svc.tasks.service import to_schema
from inference_svc.usage.meter import Payer

logger = logging.getLogger("automl.inference.tasks")


class TaskRunner(BackgroundWorker):
    name = "task"

    def __init__(
        self,
        database: Database,
        calls: ServeCalls,
        callbacks: GuardedFetcher,
        settings: InferenceSettings,
    ) -> None:
        super().__init__(database)
        self.calls = calls
        self.callbacks = callbacks
        self.settings = settings

    async def interrupted(self) -> Sequence[str]:
        async with self.transaction() as session:
            return await TaskRepository(session).unfinished_ids()

    async def run(self, task_id: str) -> None:
        async with self.transaction() as session:
            row = await TaskRepository(session).get(task_id)
            if row is None:
                return
            status, inputs = row.status, restored(row.inputs)
            payer = Payer(row.org_id, row.key_id or "")
            if status in ("queued", "running"):
                row.status = "running"
        if status in ("queued", "running"):
            outputs, error = await self._predict(task_id, inputs, payer)
            async with self.transaction() as session:
                row = await TaskRepository(session).get(task_id)
                if row is None:
                    return
                row.status = "failed" if error else "succeeded"
                row.outputs, row.error, row.finished_at = outputs, error, utcnow()
        await self._call_back(task_id)

    async def _predict(
        self, task_id: str, inputs: list[ModelInput], payer: Payer
    ) -> tuple[list[dict[str, object]] | None, str | None]:
        deadline = asyncio.get_running_loop().time() + self.settings.predict_timeout_s
        while True:
            async with self.transaction() as session:
                task = await TaskRepository(session).get(task_id)
                deployment = await DeploymentRepository(session).get(task.deployment_id) if task else None
                if deployment is None:
                    return None, "the deployment was deleted"
                try:
                    route = deployments.ready_app(deployment)
                except DeploymentNotReady:
                    route = None
                except Exception as e:
                    return None, str(e)
            if route is not None:
                try:
                    return await self.calls.predict(deployment.id, route, inputs, payer), None
                except Exception as e:
                    return None, str(e)
            if asyncio.get_running_loop().time() > deadline:
                return None, f"the deployment was not ready within {self.settings.predict_timeout_s:g} s"
            await asyncio.sleep(0.5)

    async def _call_back(self, task_id: str) -> None:
        delay = self.settings.callback_backoff_s
        while True:
            async with self.transaction() as session:
                row = await TaskRepository(session).get(task_id)
                if row is None or not row.callback_url or row.callback_status != "pending":
                    return
                url = row.callback_url
                payload = json.dumps(to_schema(row).model_dump(mode="json")).encode()
            error: str | None = None
            permanent = False
            try:
                status = await self.callbacks.post_json(url, payload)
                if not 200 <= status < 300:
                    error = f"HTTP {status}"
            except FetchError as e:
                error = e.detail
                # A refused address or a malformed URL will not get better with time.
                permanent = e.code in ("blocked_address", "bad_url")
            async with self.transaction() as session:
                row = await TaskRepository(session).get(task_id)
                if row is None:
                    return
                row.callback_attempts += 1
                row.callback_error = error
                if error is None:
                    row.callback_status = "delivered"
                    return
                if permanent or row.callback_attempts >= self.settings.callback_max_attempts:
                    row.callback_status = "failed"
                    return
            logger.info("callback for %s failed (%s); retrying in %.1f s", task_id, error, delay)
            await asyncio.sleep(delay)
            delay *= 2
