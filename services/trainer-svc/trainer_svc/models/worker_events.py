"""Events the training worker reports (with its job's token): they move the model through its states."""

from __future__ import annotations

import hashlib
import hmac

from sqlalchemy.ext.asyncio import AsyncSession

from automl_common.db.base import utcnow
from automl_common.errors import Unauthorized
from automl_proto.training import JobEvent, JobEventAnswer
from trainer_svc.metrics import TrainingMetrics
from trainer_svc.models import status
from trainer_svc.models.repository import ModelRepository

PROGRESS_FIELDS = ("step", "total_steps", "epoch", "loss", "examples_per_s", "eta_s")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def record(
    session: AsyncSession, model_id: str, token: str, event: JobEvent, metrics: TrainingMetrics | None = None
) -> JobEventAnswer:
    """Apply one event. The answer tells the worker to stop when the model was cancelled or is over."""
    repository = ModelRepository(session)
    model = await repository.get_for_update(model_id)
    if model is None or model.token_hash is None or not hmac.compare_digest(token_hash(token), model.token_hash):
        raise Unauthorized("unknown job or wrong job token")
    if status.is_terminal(model.status):
        return JobEventAnswer(cancel=True)
    data = dict(event.data)
    if event.options is not None:  # what the run uses, its defaults filled in: shown with the model
        model.options = event.options.model_dump(mode="json", by_alias=True)
    if event.kind == "started":
        status.move(model, "running", "worker")
        model.started_at = model.started_at or utcnow()
        model.progress = {**model.progress, "waiting": None}
    elif event.kind == "progress":
        model.progress = {**model.progress, **{key: data[key] for key in PROGRESS_FIELDS if key in data}}
        if metrics is not None and isinstance(data.get("examples_per_s"), int | float):
            metrics.progress(model.id, float(data["examples_per_s"]))
    elif event.kind == "epoch":
        metric = next((value for key, value in data.items() if key.startswith("val_") and key != "val_loss"), None)
        model.progress = {**model.progress, "validation_metric": metric}
    elif event.kind == "succeeded":
        status.move(model, "succeeded", "worker")
        model.metrics = data.get("metrics")
        model.progress = {**model.progress, "eta_s": 0}
    elif event.kind == "failed":
        status.move(model, "failed", "worker", error=event.message or "the worker failed")
    elif event.kind == "cancelled":
        status.move(model, "cancelled", "worker")
    if metrics is not None and event.kind in ("succeeded", "failed", "cancelled"):
        metrics.ended(model.id, event.kind)
    await repository.add_event(model.id, event.kind, event.message, data)
    return JobEventAnswer(cancel=model.cancel_requested)
