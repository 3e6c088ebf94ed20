"""inference-svc's tables: deployments, async tasks, batch predictions, tokens generated."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Date, Float, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from automl_common.db import JSONType, TimestampMixin
from automl_common.db.base import UTCDateTime
from inference_svc.db import Base

__all__ = ["BatchPredictionRow", "DailyTokens", "DeploymentRow", "TaskRow"]


class DeploymentRow(TimestampMixin, Base):
    __tablename__ = "deployments"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(40), index=True)
    name: Mapped[str] = mapped_column(String(100))
    model_id: Mapped[str] = mapped_column(String(64), index=True)
    model_type: Mapped[str] = mapped_column(String(30))
    app_name: Mapped[str] = mapped_column(String(100), unique=True)
    status: Mapped[str] = mapped_column(String(20), index=True)  # deploying | ready | failed | deleting
    # ModelArtifacts as trainer-svc gave them when the deployment was made: replicas load from these.
    artifacts: Mapped[dict[str, Any]] = mapped_column(JSONType)
    min_replicas: Mapped[int] = mapped_column(Integer)
    max_replicas: Mapped[int] = mapped_column(Integer)
    target_ongoing_requests: Mapped[float] = mapped_column(Float)
    max_batch_size: Mapped[int] = mapped_column(Integer)
    batch_wait_timeout_ms: Mapped[float] = mapped_column(Float)
    # Bumped by every change of config; a deploy that finishes for an older generation does not mark it ready.
    generation: Mapped[int] = mapped_column(Integer, default=1)
    replicas: Mapped[dict[str, int]] = mapped_column(JSONType, default=dict)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # LoRA llm models: served by the org's one app for their base model (``serve_app``), shared with the
    # org's other such deployments, instead of an app of their own.
    share_base: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    serve_app: Mapped[str | None] = mapped_column(String(100), nullable=True, index=True)
    # The operating point: {"thresholds": {head: {class: cut-off}}, "multilabel": {head: bool}}; None: none.
    operating_point: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    operating_point_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    operating_point_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    @property
    def serving_app(self) -> str:
        """The Serve app that answers this deployment's calls."""
        return self.serve_app or self.app_name


class TaskRow(TimestampMixin, Base):
    __tablename__ = "tasks"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(40), index=True)
    deployment_id: Mapped[str] = mapped_column(String(40), index=True)
    # The key that made it, billed for its replies' tokens (None: made before keys were recorded).
    key_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    status: Mapped[str] = mapped_column(String(20), index=True)  # queued | running | succeeded | failed
    inputs: Mapped[list[Any]] = mapped_column(JSONType)
    outputs: Mapped[list[Any] | None] = mapped_column(JSONType, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    callback_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    callback_status: Mapped[str | None] = mapped_column(String(20), nullable=True)  # pending | delivered | failed
    callback_attempts: Mapped[int] = mapped_column(Integer, default=0)
    callback_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class BatchPredictionRow(TimestampMixin, Base):
    __tablename__ = "batch_predictions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(40), index=True)
    model_id: Mapped[str] = mapped_column(String(64))
    deployment_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    snapshot_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    dataset_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    input_column: Mapped[str | None] = mapped_column(String(200), nullable=True)
    format: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(20), index=True)  # queued | running | succeeded | failed
    artifacts: Mapped[dict[str, Any]] = mapped_column(JSONType)
    rows_done: Mapped[int] = mapped_column(Integer, default=0)
    rows_total: Mapped[int | None] = mapped_column(Integer, nullable=True)
    result_key: Mapped[str | None] = mapped_column(String(500), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class DailyTokens(Base):
    """An llm's tokens per day, org, deployment (or playground model) and key, counted where they are generated
    (flushed in increments by each inference-svc replica)."""

    __tablename__ = "daily_tokens"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    org_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    deployment_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    prompt_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    completion_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
