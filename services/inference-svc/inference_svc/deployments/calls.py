"""The request path of deployments: predict and generate calls sent through Serve handles, timed and metered,
and the apps the playground uses (deployed on first use). ``worker.DeploymentManager`` keeps Serve in step with
the deployments table and uses the same app names, sources and replica resources from here."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from automl_common.errors import AutoMLError
from automl_common.quotas import OrgSlots
from automl_common.storage import StoreConfig
from automl_proto.inference import ModelArtifacts
from inference_svc.deployments.operating_point import Rule
from inference_svc.errors import PlaygroundBusy, PredictionFailed, PromptTooLong
from inference_svc.metrics import InferenceMetrics
from inference_svc.serving.apps import adapters_app, playground_app, shared_heads_app
from inference_svc.serving.loader import ModelInput, ModelSource
from inference_svc.serving.replicas import ReplicaResources
from inference_svc.serving.runtime import ServeRuntime
from inference_svc.settings import InferenceSettings
from inference_svc.usage.meter import Payer, TokenMeter
from modelkit import model_types
from modelkit.errors import PromptTooLong as ModelPromptTooLong

logger = logging.getLogger("automl.inference.deployments")


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


class ServeCalls:
    def __init__(
        self, runtime: ServeRuntime, settings: InferenceSettings, metrics: InferenceMetrics, tokens: TokenMeter
    ) -> None:
        self.runtime = runtime
        self.settings = settings
        self.metrics = metrics
        self.tokens = tokens  # an llm's tokens, counted as each call's replies come back
        # The playground's replicas are shared by every org: one org's generations at once are bounded.
        self.playground_slots = OrgSlots(
            settings.playground_calls_per_org,
            error=PlaygroundBusy,
            what="playground generations running",
            setting="AUTOML_INFERENCE_PLAYGROUND_CALLS_PER_ORG",
        )
        self._playground_ready: asyncio.Task[None] | None = None
        self._adapters_ready: dict[str, asyncio.Task[None]] = {}  # by base model sha256
        self._heads_ready: dict[str, asyncio.Task[None]] = {}  # by base model sha256
        self.resources = ReplicaResources(
            num_cpus=settings.replica_num_cpus,
            num_gpus=settings.replica_num_gpus,
            upscale_delay_s=settings.upscale_delay_s,
            downscale_delay_s=settings.downscale_delay_s,
            health_check_period_s=settings.health_check_period_s,
            torch_threads=settings.replica_torch_threads,
            generation_slice_s=settings.generation_slice_s,
        )

    async def aclose(self) -> None:
        for task in (self._playground_ready, *self._adapters_ready.values(), *self._heads_ready.values()):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

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

    def call(self, route: Route, inputs: Sequence[ModelInput]) -> Any:
        if route.shared is not None:
            return self.runtime.with_source(route.app_name, self.source(route.shared), inputs)
        return self.runtime.predict(route.app_name, inputs)

    async def predict(
        self, deployment_id: str, route: Route, inputs: Sequence[ModelInput], payer: Payer
    ) -> list[dict[str, Any]]:
        """The deployment's outputs for ``inputs``; an llm's tokens billed to ``payer``."""
        if route.operating_point is not None:
            inputs = route.operating_point.asked(list(inputs))
        outputs: list[dict[str, Any]] = await self._timed(deployment_id, self.call(route, inputs), len(inputs))
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
        """Last-layer classifiers on their base model's shared-encoder app (the encoder held once for all of
        them; unless ``playground_shared_heads`` is off); LoRA llm models on their base model's adapter app;
        the other models on the shared multiplexed app. An llm's tokens are billed to ``payer``, under the
        model's id."""
        source = self.source(artifacts)
        line = model_types.info(artifacts.model_type)
        if line.can("shares_base") and artifacts.method == "lora":
            app_name = await self.ensure_adapters(source)
            call = self.runtime.with_source(app_name, source, inputs)
        elif line.can("shares_encoder") and artifacts.method == "last_layer" and self.settings.playground_shared_heads:
            app_name = await self.ensure_heads(source)
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

    async def ensure_heads(self, source: ModelSource) -> str:
        """The shared-encoder app of the source's base model, deployed on first use (once per base model)."""
        artifacts = source.artifacts
        key = artifacts.base_model_sha256
        app_name = f"{self.settings.serve_app_prefix}-heads-{key[:16]}"
        ready = self._heads_ready.get(key)
        if ready is None or (ready.done() and ready.exception() is not None):
            app = shared_heads_app(
                self.base_source(artifacts),
                max_head_bytes=self.settings.playground_max_head_bytes,
                resources=self.resources,
            )
            ready = self._heads_ready[key] = asyncio.create_task(self.runtime.run(app_name, app))
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
