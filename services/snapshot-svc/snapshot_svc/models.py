"""snapshot-svc's tables: snapshots, their invalid rows, who uses them, and their splits."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from automl_common.db import JSONType, TimestampMixin
from automl_common.db.base import UTCDateTime
from snapshot_svc.db import Base

__all__ = ["Snapshot", "SnapshotInvalidRow", "SnapshotReference", "Split"]


class Snapshot(TimestampMixin, Base):
    __tablename__ = "snapshots"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(40), index=True)
    name: Mapped[str] = mapped_column(String(200))
    dataset_id: Mapped[str] = mapped_column(String(64), index=True)
    dataset_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    type: Mapped[str] = mapped_column(String(30))
    spec: Mapped[dict[str, Any]] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(String(20))  # creating | ready | failed
    rows_read: Mapped[int] = mapped_column(BigInteger, default=0)
    row_count: Mapped[int] = mapped_column(BigInteger, default=0)
    invalid_row_count: Mapped[int] = mapped_column(BigInteger, default=0)
    invalid_reasons: Mapped[dict[str, int]] = mapped_column(JSONType, default=dict)
    heads: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    stats: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    data_key: Mapped[str | None] = mapped_column(String(512), nullable=True)
    manifest_key: Mapped[str | None] = mapped_column(String(512), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class SnapshotInvalidRow(Base):
    __tablename__ = "snapshot_invalid_rows"

    snapshot_id: Mapped[str] = mapped_column(ForeignKey("snapshots.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    row_id: Mapped[int] = mapped_column(BigInteger)
    index: Mapped[int] = mapped_column(BigInteger)
    reasons: Mapped[list[str]] = mapped_column(JSONType)


class SnapshotReference(TimestampMixin, Base):
    """A model (in trainer-svc) that uses a snapshot; a referenced snapshot cannot be deleted."""

    __tablename__ = "snapshot_references"

    snapshot_id: Mapped[str] = mapped_column(ForeignKey("snapshots.id", ondelete="CASCADE"), primary_key=True)
    model_id: Mapped[str] = mapped_column(String(64), primary_key=True)


class Split(TimestampMixin, Base):
    __tablename__ = "splits"
    __table_args__ = (UniqueConstraint("snapshot_id", "seed", "test_pct"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    snapshot_id: Mapped[str] = mapped_column(ForeignKey("snapshots.id", ondelete="CASCADE"), index=True)
    seed: Mapped[int] = mapped_column(BigInteger)
    test_pct: Mapped[float] = mapped_column(Float)
    train_rows: Mapped[int] = mapped_column(BigInteger)
    test_rows: Mapped[int] = mapped_column(BigInteger)
    heads: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    data_key: Mapped[str] = mapped_column(String(512))
