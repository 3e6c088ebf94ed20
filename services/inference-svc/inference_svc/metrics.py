"""Prometheus series of inference-svc: predictions and their latency per deployment, replicas, queue length."""

from __future__ import annotations

import contextlib

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.2, 0.35, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)


class InferenceMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "automl_predict_requests",
            "Predict calls by deployment (or playground) and outcome",
            ["deployment", "outcome"],
            registry=registry,
        )
        self.inputs = Counter(
            "automl_predict_inputs", "Inputs predicted by deployment", ["deployment"], registry=registry
        )
        self.latency = Histogram(
            "automl_predict_latency_seconds",
            "Time to answer a predict call, by deployment",
            ["deployment"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.replicas = Gauge(
            "automl_deployment_replicas", "Replicas by deployment and state", ["deployment", "state"], registry=registry
        )
        self.max_replicas = Gauge(
            "automl_deployment_max_replicas",
            "The most replicas a deployment may scale to",
            ["deployment"],
            registry=registry,
        )
        self.queue = Gauge(
            "automl_deployment_queue_length",
            "Predict calls this inference-svc has sent to a deployment and not yet had answered",
            ["deployment"],
            registry=registry,
        )

    def forget(self, deployment_id: str) -> None:
        """Drop a deleted deployment's gauges (its counters stay: they are totals)."""
        for state in ("running", "starting", "stopping"):
            with contextlib.suppress(KeyError):
                self.replicas.remove(deployment_id, state)
        for gauge in (self.queue, self.max_replicas):
            with contextlib.suppress(KeyError):
                gauge.remove(deployment_id)
