"""dataset-svc's tables: datasets, their columns, their rows, and the images rows point to."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from automl_common.db import JSONType, TimestampMixin, utcnow
from automl_common.db.base import UTCDateTime
from dataset_svc.db import Base

__all__ = ["Dataset", "DatasetColumn", "DatasetRow", "ImageAsset"]

RowId = BigInteger().with_variant(Integer(), "sqlite")  # SQLite autoincrements only INTEGER PRIMARY KEY


class Dataset(TimestampMixin, Base):
    __tablename__ = "datasets"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(40), index=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))  # processing | ready | failed
    version: Mapped[int] = mapped_column(Integer, default=1)
    row_count: Mapped[int] = mapped_column(Integer, default=0)
    invalid_row_count: Mapped[int] = mapped_column(Integer, default=0)
    mapping_confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    source_format: Mapped[str] = mapped_column(String(10))  # csv | tsv | jsonl | zip
    source_filename: Mapped[str] = mapped_column(String(255))
    source_key: Mapped[str | None] = mapped_column(String(512), nullable=True)
    source_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    source_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    next_index: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class DatasetColumn(Base):
    __tablename__ = "dataset_columns"

    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(10))
    inferred_type: Mapped[str] = mapped_column(String(10))
    distinct_count: Mapped[int] = mapped_column(Integer, default=0)
    distinct_capped: Mapped[bool] = mapped_column(Boolean, default=False)
    empty_count: Mapped[int] = mapped_column(Integer, default=0)
    samples: Mapped[list[Any]] = mapped_column(JSONType, default=list)


class DatasetRow(Base):
    __tablename__ = "dataset_rows"
    __table_args__ = (
        # Paging by index, optionally by status, stays an index range scan however deep the page.
        Index("ix_dataset_rows_dataset_index", "dataset_id", "index", unique=True),
        Index("ix_dataset_rows_dataset_status_index", "dataset_id", "status", "index"),
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    index: Mapped[int] = mapped_column(BigInteger)
    line: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # source line; None for added rows
    values: Mapped[dict[str, Any]] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(String(20))  # ok | invalid | image_failed | image_pending
    errors: Mapped[list[str] | None] = mapped_column(JSONType, nullable=True)


class ImageAsset(Base):
    """One image cell: where it comes from, whether it arrived, and the stored bytes' hash."""

    __tablename__ = "image_assets"
    __table_args__ = (Index("ix_image_assets_dataset_status", "dataset_id", "status"),)

    row_id: Mapped[int] = mapped_column(ForeignKey("dataset_rows.id", ondelete="CASCADE"), primary_key=True)
    column: Mapped[str] = mapped_column(String(200), primary_key=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(Text)  # a URL, or a path inside the uploaded zip
    status: Mapped[str] = mapped_column(String(20))  # pending | ok | failed
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    content_type: Mapped[str | None] = mapped_column(String(50), nullable=True)
    width: Mapped[int | None] = mapped_column(Integer, nullable=True)
    height: Mapped[int | None] = mapped_column(Integer, nullable=True)
    size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # A one-channel image's pixels per value ({"0": 812, "3": 212}): a mask's classes, read once at ingestion.
    histogram: Mapped[dict[str, int] | None] = mapped_column(JSONType, nullable=True)


class DatasetReference(TimestampMixin, Base):
    """An image snapshot (in snapshot-svc) that reads this dataset's images; the dataset is kept while one
    does (its images are not copied into the snapshot)."""

    __tablename__ = "dataset_references"

    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True)
    snapshot_id: Mapped[str] = mapped_column(String(64), primary_key=True)
