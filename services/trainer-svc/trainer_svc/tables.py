"""trainer-svc's tables: base models, models (training runs) and their events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from automl_common.db import JSONType, TimestampMixin
from automl_common.db.base import UTCDateTime
from trainer_svc.db import Base

__all__ = ["BaseModelRow", "ModelEventRow", "TrainingModel"]


class BaseModelRow(TimestampMixin, Base):
    """A base model: built in (org_id NULL, imported from its package) or registered by an org."""

    __tablename__ = "base_models"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    org_id: Mapped[str | None] = mapped_column(String(40), index=True, nullable=True)
    name: Mapped[str] = mapped_column(String(200))
    model_type: Mapped[str] = mapped_column(String(30))
    methods: Mapped[list[str]] = mapped_column(JSONType)
    description: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(500))  # "package:<name>" or "store:<prefix>"
    status: Mapped[str] = mapped_column(String(20))  # available | importing | ready | failed | missing
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    store_prefix: Mapped[str | None] = mapped_column(String(500), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class TrainingModel(TimestampMixin, Base):
    __tablename__ = "models"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(40), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    model_type: Mapped[str] = mapped_column(String(30))
    base_model_id: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(20))
    train_snapshot_id: Mapped[str] = mapped_column(String(64))
    test_snapshot_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    test_split_pct: Mapped[float | None] = mapped_column(Float, nullable=True)
    split_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    parent_model_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    options: Mapped[dict[str, Any]] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(String(20), index=True)  # queued | running | succeeded | failed | cancelled
    progress: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    job_handle: Mapped[str | None] = mapped_column(String(200), nullable=True)
    token_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    output_prefix: Mapped[str] = mapped_column(String(500))
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    event_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ModelEventRow(Base):
    __tablename__ = "model_events"

    model_id: Mapped[str] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    message: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ModelReference(TimestampMixin, Base):
    """A deployment (in inference-svc) that serves a model; a served model cannot be deleted."""

    __tablename__ = "model_references"

    model_id: Mapped[str] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), primary_key=True)
    deployment_id: Mapped[str] = mapped_column(String(64), primary_key=True)
