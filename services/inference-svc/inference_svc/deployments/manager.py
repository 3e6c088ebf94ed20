"""Keeps Serve in step with the deployments table: deploys and deletes in the background (one at a time per
deployment), reads Serve's state every few seconds (status, replicas), redeploys what a restarted Ray lost,
and sends predict calls through handles."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from automl_common.db import Database, utcnow
from automl_common.errors import AutoMLError
from automl_common.http import InternalClient, url_path
from automl_common.quotas import OrgSlots
from automl_common.storage import StoreConfig
from automl_common.tasks import TaskRegistry
from automl_proto.inference import ModelArtifacts
from inference_svc.deployments.operating_point import Rule
from inference_svc.errors import PlaygroundBusy, PredictionFailed, PromptTooLong
from inference_svc.metrics import InferenceMetrics
from inference_svc.serving.loader import ModelInput, ModelSource
from inference_svc.serving.replicas import (
    APP_BUILDERS,
    BatchingConfig,
    ReplicaResources,
    adapters_app,
    playground_app,
)
from inference_svc.serving.runtime import ServeRuntime
from inference_svc.settings import InferenceSettings
from inference_svc.tables import DeploymentRow
from inference_svc.usage.meter import Payer, TokenMeter
from modelkit import tasks
from modelkit.errors import PromptTooLong as ModelPromptTooLong

logger = logging.getLogger("automl.inference.deployments")

_FAILED_STATES = ("DEPLOY_FAILED", "UNHEALTHY")


@dataclass(frozen=True)
class Route:
    """Where a deployment's calls go: its Serve app, and for a shared-base deployment the model whose adapter
    the shared app answers with."""

    app_name: str
    shared: ModelArtifacts | None = None
    operating_point: Rule | None = None  # the deployment's cut-offs for ``predicted``


@contextlib.contextmanager
def model_refusals() -> Iterator[None]:
    """A request the model refused (its replica raised, Ray carried the error here) as the caller's 4xx."""
    try:
        yield
    except ModelPromptTooLong as error:
        cause = getattr(error, "cause", None) or error  # a RayTaskError holds the replica's own exception
        raise PromptTooLong(str(cause)) from error


class DeploymentManager:
    def __init__(
        self,
        database: Database,
        runtime: ServeRuntime,
        settings: InferenceSettings,
        metrics: InferenceMetrics,
        tokens: TokenMeter,
        trainer: InternalClient | None = None,
    ) -> None:
        self.database = database
        self.tokens = tokens  # an llm's tokens, counted as each call's replies come back
        self.trainer = trainer  # told when a deployment no longer serves its model
        self.runtime = runtime
        self.settings = settings
        self.metrics = metrics
        self.tasks = TaskRegistry()
        # The playground's replicas are shared by every org: one org's generations at once are bounded.
        self.playground_slots = OrgSlots(
            settings.playground_calls_per_org,
            error=PlaygroundBusy,
            what="playground generations running",
            setting="AUTOML_INFERENCE_PLAYGROUND_CALLS_PER_ORG",
        )
        self._locks: dict[str, asyncio.Lock] = {}
        self._reconciler: asyncio.Task[None] | None = None
        self._playground_ready: asyncio.Task[None] | None = None
        self._adapters_ready: dict[str, asyncio.Task[None]] = {}  # by base model sha256
        self._shared_scales: dict[str, tuple[int, int]] = {}  # shared apps deployed, with their (min, max)
        self.resources = ReplicaResources(
            num_cpus=settings.replica_num_cpus,
            num_gpus=settings.replica_num_gpus,
            upscale_delay_s=settings.upscale_delay_s,
            downscale_delay_s=settings.downscale_delay_s,
            health_check_period_s=settings.health_check_period_s,
            torch_threads=settings.replica_torch_threads,
            generation_slice_s=settings.generation_slice_s,
        )

    @property
    def playground_app_name(self) -> str:
        return f"{self.settings.serve_app_prefix}-playground"

    def app_name(self, deployment_id: str) -> str:
        return f"{self.settings.serve_app_prefix}-{deployment_id}"

    def shared_app_name(self, org_id: str, base_model_sha256: str) -> str:
        """The app that serves an org's shared-base deployments of one base model."""
        return f"{self.settings.serve_app_prefix}-shared-{org_id.removeprefix('org_')[-12:]}-{base_model_sha256[:12]}"

    def base_source(self, artifacts: ModelArtifacts) -> ModelSource:
        """Where a base model's files are, the same for every model of that base (so an adapter app's
        arguments, and so its replicas, do not change with the model that deployed it)."""
        base = ModelArtifacts(
            model_id=f"base-{artifacts.base_model_sha256[:16]}",
            name="base model",
            model_type=artifacts.model_type,
            method=artifacts.method,
            status="succeeded",
            artifacts_prefix=artifacts.base_model_prefix,
            base_model_sha256=artifacts.base_model_sha256,
            base_model_prefix=artifacts.base_model_prefix,
        )
        return self.source(base)

    def source(self, artifacts: ModelArtifacts) -> ModelSource:
        return ModelSource(
            artifacts=artifacts,
            store=StoreConfig.of(self.settings),
            cache_dir=self.settings.resolved_replica_cache_dir,
        )

    async def start(self) -> None:
        await self.runtime.start()
        async with self.database.session() as session:
            rows = await session.scalars(
                select(DeploymentRow).where(DeploymentRow.status.in_(("deploying", "deleting")))
            )
            pending = [(row.id, row.status) for row in rows]
        for deployment_id, status in pending:  # interrupted by a restart
            if status == "deploying":
                self.schedule_deploy(deployment_id)
            else:
                self.schedule_delete(deployment_id)
        self._reconciler = asyncio.create_task(self._reconcile_forever(), name="serve-reconciler")

    async def aclose(self) -> None:
        for task in (self._reconciler, self._playground_ready, *self._adapters_ready.values()):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.tasks.aclose()

    def _lock(self, deployment_id: str) -> asyncio.Lock:
        return self._locks.setdefault(deployment_id, asyncio.Lock())

    # --- deploy and delete ---------------------------------------------------------------------------------

    def schedule_deploy(self, deployment_id: str) -> None:
        """Deploy the row's current config; if it changes meanwhile, the running deploy goes again."""
        self.tasks.start(f"deploy:{deployment_id}", lambda: self._deploy(deployment_id))

    def schedule_delete(self, deployment_id: str) -> None:
        self.tasks.start(f"delete:{deployment_id}", lambda: self._delete(deployment_id))

    async def _deploy(self, deployment_id: str) -> None:
        while True:
            async with self._lock(deployment_id):
                async with self.database.session() as session:
                    row = await session.get(DeploymentRow, deployment_id)
                    if row is None or row.status != "deploying":
                        return
                    generation, app_name = row.generation, row.serving_app
                    family = tasks.info(row.model_type).family
                    artifacts = ModelArtifacts.model_validate(row.artifacts)
                    shared = artifacts if row.share_base else None
                    low = high = 0
                    if shared is not None:
                        low, high = await self._shared_scaling(session, app_name)
                        app = adapters_app(
                            self.base_source(artifacts),
                            max_adapters=self.settings.shared_max_adapters,
                            resources=self.resources,
                            min_replicas=low,
                            max_replicas=high,
                        )
                    else:
                        app = APP_BUILDERS[family](
                            self.source(artifacts),
                            min_replicas=row.min_replicas,
                            max_replicas=row.max_replicas,
                            target_ongoing_requests=row.target_ongoing_requests,
                            batching=BatchingConfig(row.max_batch_size, row.batch_wait_timeout_ms / 1000),
                            resources=self.resources,
                        )
                error: str | None = None
                try:
                    if shared is None or not await self._shared_app_current(app_name, (low, high)):
                        await self.runtime.run(app_name, app)
                        if shared is not None:
                            self._shared_scales[app_name] = (low, high)
                    if family == "causal_lm":
                        error = await self._parity(Route(app_name, shared))
                except Exception as e:  # Serve reports a failed deploy (a replica that cannot start) this way
                    logger.warning("deployment %s failed: %s", deployment_id, e)
                    error = f"{type(e).__name__}: {e}"[:4000]
                async with self.database.session() as session:
                    row = await session.get(DeploymentRow, deployment_id)
                    if row is None or row.status != "deploying":
                        return
                    if row.generation != generation:
                        continue  # changed while deploying: deploy the new config
                    row.status = "failed" if error else "ready"
                    row.error = error
                    row.updated_at = utcnow()
                    return

    async def _parity(self, route: Route) -> str | None:
        """The replies the worker generated for held-out prompts at the end of training, asked again of the
        deployment the way a caller asks (greedy): a difference means the served model does not behave like
        the trained one (another template, tokenizer or weights), and the deployment fails with it shown."""
        source = self.source(route.shared) if route.shared is not None else None
        prompts = await self.runtime.parity_prompts(route.app_name, source)
        if not prompts:
            return None
        requests = [{"messages": item["messages"], "max_new_tokens": item["max_new_tokens"]} for item in prompts]
        async with asyncio.timeout(self.settings.predict_timeout_s):
            outputs = await self._call(route, requests)
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
            async with self.database.session() as session:
                row = await session.get(DeploymentRow, deployment_id)
                if row is None:
                    return
                app_name, org_id, model_id = row.serving_app, row.org_id, row.model_id
                # A shared app stays while another deployment of the org still uses it.
                in_use = row.share_base and (await self._shared_scaling(session, app_name, excluding=row.id))[1] > 0
            if not in_use:
                await self.runtime.delete(app_name)
                self._shared_scales.pop(app_name, None)
            # The row stays ("deleting", retried at the next start) until trainer-svc has let go of the model.
            await self._release_model(org_id, model_id, deployment_id)
            async with self.database.session() as session:
                row = await session.get(DeploymentRow, deployment_id)
                if row is not None:
                    await session.delete(row)
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

    @staticmethod
    async def _shared_scaling(session: Any, app_name: str, excluding: str | None = None) -> tuple[int, int]:
        """The replicas a shared app is to have: the largest min and max its live deployments ask for ((0, 0)
        when none is left)."""
        statement = select(DeploymentRow.min_replicas, DeploymentRow.max_replicas).where(
            DeploymentRow.serve_app == app_name, DeploymentRow.status.in_(("deploying", "ready"))
        )
        if excluding is not None:
            statement = statement.where(DeploymentRow.id != excluding)
        rows = (await session.execute(statement)).all()
        return (max(row[0] for row in rows), max(row[1] for row in rows)) if rows else (0, 0)

    # --- Serve's state -------------------------------------------------------------------------------------

    async def _reconcile_forever(self) -> None:
        while True:
            try:
                await self.reconcile()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("reading Serve's state failed")
            await asyncio.sleep(self.settings.reconcile_interval_s)

    async def reconcile(self) -> None:
        states = await self.runtime.states()
        redeploy = []
        async with self.database.session() as session:
            rows = await session.scalars(select(DeploymentRow).where(DeploymentRow.status.in_(("deploying", "ready"))))
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

    # --- predictions ---------------------------------------------------------------------------------------

    def _call(self, route: Route, inputs: Sequence[ModelInput]) -> Any:
        if route.shared is not None:
            return self.runtime.with_source(route.app_name, self.source(route.shared), inputs)
        return self.runtime.predict(route.app_name, inputs)

    async def predict(
        self, deployment_id: str, route: Route, inputs: Sequence[ModelInput], payer: Payer
    ) -> list[dict[str, Any]]:
        """The deployment's outputs for ``inputs``; an llm's tokens billed to ``payer``."""
        outputs: list[dict[str, Any]] = await self._timed(deployment_id, self._call(route, inputs), len(inputs))
        self.tokens.record_outputs(payer, deployment_id, outputs)
        return route.operating_point.apply(outputs) if route.operating_point is not None else outputs

    async def stream(
        self, deployment_id: str, route: Route, request: dict[str, Any], payer: Payer
    ) -> AsyncGenerator[dict[str, Any]]:
        """A generator's reply piece by piece; the whole stream within the predict timeout; its tokens (to its
        last piece, if it is cut) billed to ``payer``."""
        started = time.perf_counter()
        outcome = "error"
        source = self.source(route.shared) if route.shared is not None else None
        replies = self.tokens.metered(payer, deployment_id, self.runtime.stream(route.app_name, request, source))
        try:
            async with contextlib.aclosing(replies), asyncio.timeout(self.settings.predict_timeout_s):
                with model_refusals():
                    async for item in replies:
                        yield item
            outcome = "ok"
        finally:
            self.metrics.requests.labels(deployment_id, outcome).inc()
            self.metrics.latency.labels(deployment_id).observe(time.perf_counter() - started)

    async def ensure_playground(self) -> None:
        """The shared playground app, deployed on first use (once; concurrent callers wait for the same)."""
        if self._playground_ready is None or (
            self._playground_ready.done() and self._playground_ready.exception() is not None
        ):
            app = playground_app(max_replicas=self.settings.playground_max_replicas, resources=self.resources)
            self._playground_ready = asyncio.create_task(self.runtime.run(self.playground_app_name, app))
        await asyncio.shield(self._playground_ready)

    async def playground(
        self, artifacts: ModelArtifacts, inputs: Sequence[ModelInput], payer: Payer
    ) -> list[dict[str, Any]]:
        """Classifiers and whole llm models on the shared multiplexed app; LoRA llm models on their base
        model's adapter app (the base held once for all of them). An llm's tokens are billed to ``payer``,
        under the model's id."""
        source = self.source(artifacts)
        if tasks.info(artifacts.model_type).family == "causal_lm" and artifacts.method == "lora":
            app_name = await self.ensure_adapters(source)
            call = self.runtime.with_source(app_name, source, inputs)
        else:
            await self.ensure_playground()
            call = self.runtime.playground(self.playground_app_name, artifacts.model_id, source, inputs)
        outputs = await self._timed("playground", call, len(inputs))
        self.tokens.record_outputs(payer, artifacts.model_id, outputs)
        return outputs

    async def playground_stream(
        self, artifacts: ModelArtifacts, request: dict[str, Any], payer: Payer
    ) -> AsyncGenerator[dict[str, Any]]:
        """An llm model's playground reply piece by piece, from where ``playground`` would answer it."""
        source = self.source(artifacts)
        if artifacts.method == "lora":
            pieces = self.runtime.stream(await self.ensure_adapters(source), request, source)
        else:
            await self.ensure_playground()
            pieces = self.runtime.playground_stream(self.playground_app_name, artifacts.model_id, source, request)
        replies = self.tokens.metered(payer, artifacts.model_id, pieces)
        async with contextlib.aclosing(replies), asyncio.timeout(self.settings.predict_timeout_s):
            with model_refusals():
                async for item in replies:
                    yield item

    async def ensure_adapters(self, source: ModelSource) -> str:
        """The adapter app of the source's base model, deployed on first use (once per base model)."""
        sha = source.artifacts.base_model_sha256
        app_name = f"{self.settings.serve_app_prefix}-adapters-{sha[:16]}"
        ready = self._adapters_ready.get(sha)
        if ready is None or (ready.done() and ready.exception() is not None):
            app = adapters_app(
                self.base_source(source.artifacts),
                max_adapters=self.settings.playground_max_adapters,
                resources=self.resources,
                min_replicas=1,
                max_replicas=1,
            )
            ready = self._adapters_ready[sha] = asyncio.create_task(self.runtime.run(app_name, app))
        await asyncio.shield(ready)
        return app_name

    async def _timed(self, label: str, call: Any, count: int) -> list[dict[str, Any]]:
        started = time.perf_counter()
        queue = self.metrics.queue.labels(label)
        queue.inc()
        try:
            async with asyncio.timeout(self.settings.predict_timeout_s):
                with model_refusals():
                    outputs: list[dict[str, Any]] = await call
        except AutoMLError:
            self.metrics.requests.labels(label, "refused").inc()
            raise
        except TimeoutError as e:
            self.metrics.requests.labels(label, "timeout").inc()
            raise PredictionFailed(f"no answer within {self.settings.predict_timeout_s:g} s") from e
        except Exception as e:
            self.metrics.requests.labels(label, "error").inc()
            logger.warning("predict on %s failed: %s", label, e)
            raise PredictionFailed(
                f"the model could not answer: {type(e).__name__}", headers={"Retry-After": "1"}
            ) from e
        finally:
            queue.dec()
        self.metrics.requests.labels(label, "ok").inc()
        self.metrics.inputs.labels(label).inc(count)
        self.metrics.latency.labels(label).observe(time.perf_counter() - started)
        return outputs
