"""The Serve deployments: one per platform deployment (a model, batched), and one shared playground that keeps
the recently used models loaded (``@serve.multiplexed``). Plain classes; the app builders below give Serve
their options."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ray import serve
from ray.serve.deployment import Application

from inference_svc.serving.loader import ModelSource, Predictor, load_predictor

# Models one playground replica keeps loaded; the least recently used is dropped for a new one. More models
# in use at once spread over more replicas (up to the playground's max replicas).
PLAYGROUND_MODELS_PER_REPLICA = 4


@dataclass(frozen=True)
class ReplicaResources:
    num_cpus: float
    num_gpus: float
    upscale_delay_s: float
    downscale_delay_s: float
    health_check_period_s: float


@dataclass(frozen=True)
class BatchingConfig:
    max_batch_size: int
    batch_wait_timeout_s: float

    def user_config(self) -> dict[str, Any]:
        return {"max_batch_size": self.max_batch_size, "batch_wait_timeout_s": self.batch_wait_timeout_s}


class ClassifierReplica:
    """One model; single inputs from concurrent requests are gathered into batches for one forward pass."""

    async def __init__(self, source: ModelSource) -> None:  # type: ignore[misc]  # Serve awaits async constructors
        self.predictor = await load_predictor(source)

    def reconfigure(self, config: dict[str, Any]) -> None:
        """Batching limits change without restarting the replica (``user_config``)."""
        batched: Any = self._predict_batch  # the serve.batch wrapper, which has these setters
        batched.set_max_batch_size(int(config["max_batch_size"]))
        batched.set_batch_wait_timeout_s(float(config["batch_wait_timeout_s"]))

    @serve.batch(max_batch_size=16, batch_wait_timeout_s=0.002)
    async def _predict_batch(self, texts: list[str]) -> list[dict[str, Any]]:
        # In a thread: the replica's event loop keeps taking requests (the next batch) during the forward pass.
        return await asyncio.to_thread(self.predictor.predict, texts)

    async def predict(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(self._predict_batch(text) for text in texts)))

    def check_health(self) -> None:
        if self.predictor is None:
            raise RuntimeError("no model loaded")


class PlaygroundReplica:
    """Any succeeded model, loaded on first use and kept among the replica's most recently used ones."""

    def __init__(self) -> None:
        self._sources: dict[str, ModelSource] = {}

    @serve.multiplexed(max_num_models_per_replica=PLAYGROUND_MODELS_PER_REPLICA)  # type: ignore[untyped-decorator]
    async def _model(self, model_id: str) -> Predictor:
        return await load_predictor(self._sources[model_id])

    async def predict(self, source: ModelSource, texts: Sequence[str]) -> list[dict[str, Any]]:
        model_id = serve.get_multiplexed_model_id()
        # The loader sees only the id; the request brings where the model's files are.
        self._sources[model_id] = source
        predictor = await self._model(model_id)
        return await asyncio.to_thread(predictor.predict, list(texts))

    def check_health(self) -> None:
        return None


def classifier_app(
    source: ModelSource,
    *,
    min_replicas: int,
    max_replicas: int,
    target_ongoing_requests: float,
    batching: BatchingConfig,
    resources: ReplicaResources,
) -> Application:
    deployment = serve.deployment(
        name="classifier",
        autoscaling_config={
            "min_replicas": min_replicas,
            "max_replicas": max_replicas,
            "initial_replicas": max(min_replicas, 1),
            "target_ongoing_requests": target_ongoing_requests,
            "upscale_delay_s": resources.upscale_delay_s,
            "downscale_delay_s": resources.downscale_delay_s,
        },
        # Enough in flight per replica for a batch to fill, and for autoscaling to see the queue.
        max_ongoing_requests=max(2 * batching.max_batch_size, int(2 * target_ongoing_requests), 8),
        ray_actor_options={"num_cpus": resources.num_cpus, "num_gpus": resources.num_gpus},
        user_config=batching.user_config(),
        health_check_period_s=resources.health_check_period_s,
    )(ClassifierReplica)
    app: Application = deployment.bind(source)
    return app


def playground_app(*, max_replicas: int, resources: ReplicaResources) -> Application:
    deployment = serve.deployment(
        name="playground",
        autoscaling_config={
            "min_replicas": 1,
            "max_replicas": max_replicas,
            "target_ongoing_requests": 4,
            "upscale_delay_s": resources.upscale_delay_s,
            "downscale_delay_s": resources.downscale_delay_s,
        },
        max_ongoing_requests=32,
        ray_actor_options={"num_cpus": resources.num_cpus, "num_gpus": resources.num_gpus},
        health_check_period_s=resources.health_check_period_s,
    )(PlaygroundReplica)
    app: Application = deployment.bind()
    return app
