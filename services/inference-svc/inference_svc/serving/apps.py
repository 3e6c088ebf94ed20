"""The Serve apps: each replica class of ``replicas`` with the Serve options a deployment, a base model's shared
replicas or the playground give it (autoscaling, ongoing requests, actor resources), and the app builder of each
model family (``APP_BUILDERS``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ray import serve
from ray.serve.deployment import Application

from inference_svc.serving.loader import ModelSource
from inference_svc.serving.replicas import (
    AdapterReplica,
    BatchedReplica,
    BatchingConfig,
    LLMReplica,
    PlaygroundReplica,
    ReplicaResources,
    SharedHeadsReplica,
)


def _model_app(
    replica: type,
    name: str,
    max_ongoing_requests: int,
    source: ModelSource,
    *,
    min_replicas: int,
    max_replicas: int,
    target_ongoing_requests: float,
    batching: BatchingConfig,
    resources: ReplicaResources,
) -> Application:
    """One platform deployment's Serve app: its replica class, autoscaled as the deployment says."""
    deployment = serve.deployment(
        name=name,
        autoscaling_config={
            "min_replicas": min_replicas,
            "max_replicas": max_replicas,
            "initial_replicas": max(min_replicas, 1),
            "target_ongoing_requests": target_ongoing_requests,
            "upscale_delay_s": resources.upscale_delay_s,
            "downscale_delay_s": resources.downscale_delay_s,
        },
        max_ongoing_requests=max_ongoing_requests,
        ray_actor_options=resources.actor_options(),
        user_config=batching.user_config(),
        health_check_period_s=resources.health_check_period_s,
    )(replica)
    app: Application = deployment.bind(source, resources.torch_threads, resources.device)
    return app


def _batched_app(family: str) -> Callable[..., Application]:
    """The app builder of a family whose model answers an input in one forward pass (a classifier, a detector,
    a segmenter): its inputs batched on the replica."""

    def build(
        source: ModelSource, *, target_ongoing_requests: float, batching: BatchingConfig, **options: Any
    ) -> Application:
        # Requests wait in the replica's batch queue, not in the caller's router: a router finding every
        # replica full retries with backoff sleeps (measured: idle CPU, 10 req/s where the replica does 35).
        max_ongoing = max(2 * batching.max_batch_size, int(4 * target_ongoing_requests), 64)
        return _model_app(
            BatchedReplica,
            family,
            max_ongoing,
            source,
            target_ongoing_requests=target_ongoing_requests,
            batching=batching,
            **options,
        )

    return build


def llm_app(
    source: ModelSource, *, target_ongoing_requests: float, batching: BatchingConfig, **options: Any
) -> Application:
    # A reply takes many forward passes: few requests are worth queueing on one replica.
    max_ongoing = max(int(4 * target_ongoing_requests), 16)
    return _model_app(
        LLMReplica,
        "llm",
        max_ongoing,
        source,
        target_ongoing_requests=target_ongoing_requests,
        batching=batching,
        **options,
    )


def _base_app(
    replica: type, name: str, resources: ReplicaResources, min_replicas: int, max_replicas: int, max_ongoing: int
) -> Any:
    """A base model's shared replicas (an adapter app, a shared-encoder app): autoscaled on the total load of
    the models they serve."""
    return serve.deployment(
        name=name,
        autoscaling_config={
            "min_replicas": min_replicas,
            "max_replicas": max(max_replicas, 1),
            "initial_replicas": max(min_replicas, 1),
            "upscale_delay_s": resources.upscale_delay_s,
            "downscale_delay_s": resources.downscale_delay_s,
        },
        max_ongoing_requests=max_ongoing,
        ray_actor_options=resources.actor_options(),
        health_check_period_s=resources.health_check_period_s,
    )(replica)


def adapters_app(
    base: ModelSource, *, max_adapters: int, resources: ReplicaResources, min_replicas: int, max_replicas: int
) -> Application:
    deployment = _base_app(AdapterReplica, "adapters", resources, min_replicas, max_replicas, 64)
    app: Application = deployment.bind(
        base, resources.torch_threads, max_adapters, resources.device, resources.generation_slice_s
    )
    return app


def shared_heads_app(
    base: ModelSource, *, max_head_bytes: int, resources: ReplicaResources, min_replicas: int = 1, max_replicas: int = 1
) -> Application:
    """The replicas of one base model's last-layer classifiers (the playground's, or an org's shared-base
    deployments'). Requests wait in the replica's batch queue (as ``_batched_app``'s), so many may be ongoing."""
    deployment = _base_app(SharedHeadsReplica, "heads", resources, min_replicas, max_replicas, 256)
    app: Application = deployment.bind(base, resources.torch_threads, max_head_bytes, resources.device)
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
        ray_actor_options=resources.actor_options(),
        health_check_period_s=resources.health_check_period_s,
    )(PlaygroundReplica)
    app: Application = deployment.bind(resources.torch_threads, resources.device, resources.generation_slice_s)
    return app


# The Serve app for each model family the registry names (``modelkit.model_types``).
APP_BUILDERS: dict[str, Callable[..., Application]] = {
    "classifier": _batched_app("classifier"),
    "llm": llm_app,
    "detector": _batched_app("detector"),
    "segmenter": _batched_app("segmenter"),
}
