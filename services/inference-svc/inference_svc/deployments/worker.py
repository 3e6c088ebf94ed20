"""Keeps Serve in step with the deployments table: deploys and deletes in the background (one at a time per
deployment), reads Serve's state every few seconds (status, replicas), redeploys what a restarted Ray lost,
and checks a new llm deployment answers as its trained model did. Calls to deployments go through
``calls.ServeCalls``."""

from __future__ import annotations

import asyncio
import logging

from ray.serve.deployment import Application

from automl_common.db import Database, utcnow
from automl_common.errors import AutoMLError
from automl_common.http import InternalClient, url_path
from automl_common.worker import BackgroundWorker
from automl_proto.inference import ModelArtifacts
from inference_svc.deployments.calls import Route, ServeCalls
from inference_svc.deployments.repository import DeploymentRepository
from inference_svc.metrics import InferenceMetrics
from inference_svc.serving.apps import APP_BUILDERS, adapters_app, shared_heads_app
from inference_svc.serving.replicas import BatchingConfig
from inference_svc.settings import InferenceSettings
from modelkit import model_types

logger = logging.getLogger("automl.inference.deployments")

_FAILED_STATES = ("DEPLOY_FAILED", "UNHEALTHY")


class DeploymentManager(BackgroundWorker):
    name = "deployment"

    def __init__(
        self,
        database: Database,
        calls: ServeCalls,
        settings: InferenceSettings,
        metrics: InferenceMetrics,
        trainer: InternalClient | None = None,
    ) -> None:
        super().__init__(database)
        self.tick_interval_s = settings.reconcile_interval_s
        self.calls = calls
        self.runtime = calls.runtime
        self.trainer = trainer  # told when a deployment no longer serves its model
        self.settings = settings
        self.metrics = metrics
        self._locks: dict[str, asyncio.Lock] = {}
        self._shared_scales: dict[str, tuple[int, int]] = {}  # shared apps deployed, with their (min, max)

    async def start(self) -> None:
        await self.runtime.start()
        await super().start()

    async def resume(self) -> None:
        """Deploys and deletes a restart interrupted go on."""
        async with self.transaction() as session:
            rows = await DeploymentRepository(session).in_status("deploying", "deleting")
            pending = [(row.id, row.status) for row in rows]
        for deployment_id, status in pending:
            if status == "deploying":
                self.schedule_deploy(deployment_id)
            else:
                self.schedule_delete(deployment_id)

    async def on_stop(self) -> None:
        await self.calls.aclose()

    def _lock(self, deployment_id: str) -> asyncio.Lock:
        return self._locks.setdefault(deployment_id, asyncio.Lock())

    # --- deploy and delete ---------------------------------------------------------------------------------

    def schedule_deploy(self, deployment_id: str) -> None:
        """Deploy the row's current config; if it changes meanwhile, the running deploy goes again."""
        self.start_run(f"deploy:{deployment_id}", lambda: self._deploy(deployment_id))

    def schedule_delete(self, deployment_id: str) -> None:
        self.start_run(f"delete:{deployment_id}", lambda: self._delete(deployment_id))

    async def _deploy(self, deployment_id: str) -> None:
        while True:
            async with self._lock(deployment_id):
                async with self.transaction() as session:
                    row = await DeploymentRepository(session).get(deployment_id)
                    if row is None or row.status != "deploying":
                        return
                    generation, app_name = row.generation, row.serving_app
                    line = model_types.info(row.model_type)
                    artifacts = ModelArtifacts.model_validate(row.artifacts)
                    shared = artifacts if row.share_base else None
                    low = high = 0
                    if shared is not None:
                        low, high = await DeploymentRepository(session).shared_scaling(app_name)
                        app = self.shared_app(artifacts, line.family, low, high)
                    else:
                        app = APP_BUILDERS[line.family](
                            self.calls.source(artifacts),
                            min_replicas=row.min_replicas,
                            max_replicas=row.max_replicas,
                            target_ongoing_requests=row.target_ongoing_requests,
                            batching=BatchingConfig(row.max_batch_size, row.batch_wait_timeout_ms / 1000),
                            resources=self.calls.resources,
                        )
                error: str | None = None
                try:
                    if shared is None or not await self._shared_app_current(app_name, (low, high)):
                        await self.runtime.run(app_name, app)
                        if shared is not None:
                            self._shared_scales[app_name] = (low, high)
                    if line.can("generates"):  # a replica's replies must be the model's own (its parity check)
                        error = await self._parity(Route(app_name, shared))
                except Exception as e:  # Serve reports a failed deploy (a replica that cannot start) this way
                    logger.warning("deployment %s failed: %s", deployment_id, e)
                    error = f"{type(e).__name__}: {e}"[:4000]
                async with self.transaction() as session:
                    row = await DeploymentRepository(session).get(deployment_id)
                    if row is None or row.status != "deploying":
                        return
                    if row.generation != generation:
                        continue  # changed while deploying: deploy the new config
                    row.status = "failed" if error else "ready"
                    row.error = error
                    row.updated_at = utcnow()
                    return

    def shared_app(self, artifacts: ModelArtifacts, family: str, low: int, high: int) -> Application:
        """The org's app of the model's base model: LoRA llm adapters, or last-layer classifiers' heads."""
        base = self.calls.base_source(artifacts)
        resources = self.calls.resources
        if family == "llm":
            max_adapters = self.settings.shared_max_adapters
            return adapters_app(
                base, max_adapters=max_adapters, resources=resources, min_replicas=low, max_replicas=high
            )
        max_head_bytes = self.settings.shared_max_head_bytes
        return shared_heads_app(
            base, max_head_bytes=max_head_bytes, resources=resources, min_replicas=low, max_replicas=high
        )

    async def _parity(self, route: Route) -> str | None:
        """The replies the worker generated for held-out prompts at the end of training, asked again of the
        deployment the way a caller asks (greedy): a difference means the served model does not behave like
        the trained one (another template, tokenizer or weights), and the deployment fails with it shown."""
        source = self.calls.source(route.shared) if route.shared is not None else None
        prompts = await self.runtime.parity_prompts(route.app_name, source)
        if not prompts:
            return None
        requests = [{"messages": item["messages"], "max_new_tokens": item["max_new_tokens"]} for item in prompts]
        async with asyncio.timeout(self.settings.predict_timeout_s):
            outputs = await self.calls.call(route, requests)
        differences = [
            f"prompt {item['messages'][-1]['content'][:200]!r}: trained {item['output']!r}, served {output['text']!r}"
            for item, output in zip(prompts, outputs, strict=True)
            if output["text"] != item["output"]
        ]
        if not differences:
            return None
        if route.shared is None:  # a shared app goes on serving the org's other models
            await self.runtime.delete(route.app_name)
        return (
            f"parity check failed: {len(differences)} of {len(prompts)} held-out prompts got another reply than "
            "the trained model gave: " + "; ".join(differences)
        )[:4000]

    async def _delete(self, deployment_id: str) -> None:
        async with self._lock(deployment_id):
            async with self.transaction() as session:
                row = await DeploymentRepository(session).get(deployment_id)
                if row is None:
                    return
                app_name, org_id, model_id = row.serving_app, row.org_id, row.model_id
                # A shared app stays while another deployment of the org still uses it.
                scaling = await DeploymentRepository(session).shared_scaling(app_name, excluding=row.id)
                in_use = row.share_base and scaling[1] > 0
            if not in_use:
                await self.runtime.delete(app_name)
                self._shared_scales.pop(app_name, None)
            # The row stays ("deleting", retried at the next start) until trainer-svc has let go of the model.
            await self._release_model(org_id, model_id, deployment_id)
            async with self.transaction() as session:
                row = await DeploymentRepository(session).get(deployment_id)
                if row is not None:
                    await DeploymentRepository(session).delete(row)
        self._locks.pop(deployment_id, None)
        self.metrics.forget(deployment_id)

    async def _release_model(self, org_id: str, model_id: str, deployment_id: str) -> None:
        if self.trainer is None:
            return
        path = url_path("/internal/models/{}/references/{}", model_id, deployment_id)
        for attempt in range(5):
            try:
                response = await self.trainer.request("DELETE", path, org_id=org_id)
                if response.status_code in (204, 404):  # 404: the model is gone already
                    return
            except AutoMLError:
                pass
            await asyncio.sleep(0.5 * 2**attempt)
        raise RuntimeError(f"trainer-svc did not release model {model_id} for deployment {deployment_id}")

    async def _shared_app_current(self, app_name: str, scale: tuple[int, int]) -> bool:
        """Whether a shared app already runs with this scaling: deploying it again would restart its replicas
        (Serve gives every deploy a new version), dropping the adapters they hold."""
        if self._shared_scales.get(app_name) != scale:
            return False
        state = (await self.runtime.states()).get(app_name)
        return state is not None and state.status == "RUNNING"

    # --- Serve's state -------------------------------------------------------------------------------------

    async def tick(self) -> None:
        await self.reconcile()

    async def reconcile(self) -> None:
        states = await self.runtime.states()
        redeploy = []
        async with self.transaction() as session:
            rows = await DeploymentRepository(session).in_status("deploying", "ready")
            for row in rows:
                state = states.get(row.serving_app)
                replicas = (
                    {"running": state.running, "starting": state.starting, "stopping": state.stopping}
                    if state
                    else {"running": 0, "starting": 0, "stopping": 0}
                )
                for name, count in replicas.items():
                    self.metrics.replicas.labels(row.id, name).set(count)
                self.metrics.max_replicas.labels(row.id).set(row.max_replicas)
                if replicas != row.replicas:
                    row.replicas = replicas
                if row.status == "ready" and state is None:
                    row.status = "deploying"  # Ray lost it (restarted): bring it back
                    row.generation += 1
                    redeploy.append(row.id)
                elif row.status == "ready" and state is not None and state.status in _FAILED_STATES:
                    row.status, row.error, row.updated_at = "failed", state.message or state.status, utcnow()
        for deployment_id in redeploy:
            self.schedule_deploy(deployment_id)
