"""Prometheus series of trainer-svc: models by status (from the dispatcher's tick), runs that ended by
outcome, restarts, and the training throughput of each running model (from its progress events)."""

from __future__ import annotations

import contextlib

from prometheus_client import CollectorRegistry, Counter, Gauge

STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")


class TrainingMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.models = Gauge(
            "automl_training_models",
            "Models (training runs) by status, as the dispatcher last counted them",
            ["status"],
            registry=registry,
        )
        self.waiting = Gauge(
            "automl_training_jobs_waiting",
            "Queued models whose job waits for resources (a GPU, a queue)",
            registry=registry,
        )
        self.finished = Counter(
            "automl_training_runs_finished", "Training runs that ended, by outcome", ["outcome"], registry=registry
        )
        self.restarts = Counter(
            "automl_training_restarts", "Attempts restarted from a checkpoint (killed, preempted)", registry=registry
        )
        self.examples_per_s = Gauge(
            "automl_training_examples_per_second",
            "Training throughput of each running model",
            ["model"],
            registry=registry,
        )
        for outcome in ("succeeded", "failed", "cancelled"):
            self.finished.labels(outcome)  # present from the start, so rate() and increase() see the first one

    def count(self, counts: dict[str, int], waiting: int) -> None:
        for status in STATUSES:
            self.models.labels(status).set(counts.get(status, 0))
        self.waiting.set(waiting)

    def ended(self, model_id: str, outcome: str) -> None:
        self.finished.labels(outcome).inc()
        with contextlib.suppress(KeyError):
            self.examples_per_s.remove(model_id)

    def progress(self, model_id: str, examples_per_s: float | None) -> None:
        if examples_per_s is not None:
            self.examples_per_s.labels(model_id).set(examples_per_s)
