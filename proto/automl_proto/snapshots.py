"""Public schemas of snapshots (served by snapshot-svc through the gateway) and their splits."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from automl_proto import model_types
from automl_proto.ids import ResourceId
from automl_proto.model_types import COLUMN_FIELDS, NAMES, ModelTypeName

SnapshotType = ModelTypeName  # one of automl_proto.model_types.NAMES
SnapshotStatus = Literal["creating", "ready", "failed"]

# Why a row was left out of a snapshot (the keys of ``invalid_reasons``).
INVALID_REASONS = (
    "invalid_in_dataset",
    "missing_input",
    "text_too_long",
    "image_not_fetched",
    "no_label",
    "unparseable_multilabel",
    "class_too_rare",
    "invalid_messages",
    "invalid_boxes",
    "box_outside_image",
    "box_empty",
    "unknown_category",
    "mask_not_fetched",
    "mask_not_one_channel",
    "mask_size_mismatch",
    "mask_value_unknown",
    "invalid_classes",
    "classes_differ",
)


class HeadSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    column: str = Field(
        description="a label column of the dataset: its values are the head's classes", min_length=1, max_length=200
    )
    multilabel: bool = Field(default=False, description="whether a row may have several of the head's classes")
    separator: str | None = Field(
        default=None, min_length=1, max_length=5, description="multi-label values split on this; default: a JSON list"
    )


class SnapshotCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "dataset_id": "ds_01JEX9Q4W6V8Z3T5N7R2K0M1PB",
                    "name": "reviews-v1",
                    "type": "text_classification",
                    "input_column": "text",
                    "heads": [{"column": "sentiment"}],
                }
            ]
        },
    )

    dataset_id: ResourceId = Field(description="the ready dataset, with its column mapping confirmed")
    name: str = Field(description="the snapshot's name (1-200 characters)", min_length=1, max_length=200)
    type: SnapshotType = Field(description=f"the model type it is for: {', '.join(NAMES)}")
    input_column: str | None = Field(
        description="classification: the text or image column the model reads", default=None, max_length=200
    )
    prompt_column: str | None = Field(
        description="llm: the prompt column (with completion_column)", default=None, max_length=200
    )
    completion_column: str | None = Field(
        description="llm: the reply the model learns to give (with prompt_column)", default=None, max_length=200
    )
    messages_column: str | None = Field(
        description="llm: a JSON column of chat messages, instead of prompt and completion",
        default=None,
        max_length=200,
    )
    boxes_column: str | None = Field(
        description="object_detection: the boxes column (with input_column, the image)", default=None, max_length=200
    )
    mask_column: str | None = Field(
        description="semantic_segmentation: the mask column (with input_column, the image)",
        default=None,
        max_length=200,
    )
    classes_column: str | None = Field(
        description="semantic_segmentation: the column of class names (default 'classes', as an upload with "
        "labels.txt names it)",
        default=None,
        max_length=200,
    )
    heads: list[HeadSpec] = Field(
        description="classification: the label columns, one head each", default_factory=list, max_length=50
    )
    max_invalid_row_pct: float = Field(
        description="the snapshot fails when more than this share of the rows is invalid", default=10.0, ge=0, le=100
    )

    def columns(self) -> dict[str, str]:
        """The column fields given (``input_column`` -> the dataset column)."""
        return {name: value for name in COLUMN_FIELDS if (value := getattr(self, name, None))}

    @model_validator(mode="after")
    def _columns_fit_the_type(self) -> SnapshotCreate:
        rule = model_types.info(self.type).snapshot
        named = self.columns()
        form = rule.form(set(named))
        if form is None:
            others = sorted(set(named) - set(rule.fields))
            if others:
                raise ValueError(
                    f"{', '.join(others)}: not a column of {self.type} snapshots (they take {rule.describe()})"
                )
            raise ValueError(f"a {self.type} snapshot needs {rule.describe()}")
        for column in form:
            if column.default is not None and column.field not in named:
                setattr(self, column.field, column.default)
        named = self.columns()
        if rule.heads and not self.heads:
            raise ValueError(f"at least one head is required for {self.type}")
        if not rule.heads and self.heads:
            raise ValueError(f"heads: {self.type} snapshots have no label heads")
        names = [head.column for head in self.heads]
        if len(set(names)) != len(names):
            raise ValueError("each head must name a different column")
        if set(named.values()) & set(names):
            raise ValueError("the input column cannot also be a head")
        return self


class ClassCount(BaseModel):
    name: str
    count: int


class Head(BaseModel):
    name: str
    multilabel: bool
    classes: list[ClassCount]


class SnapshotProgress(BaseModel):
    rows_read: int = 0


class Snapshot(BaseModel):
    id: str
    name: str
    dataset_id: str
    dataset_version: int | None
    type: SnapshotType
    input_column: str | None
    prompt_column: str | None
    completion_column: str | None
    messages_column: str | None
    boxes_column: str | None = None
    mask_column: str | None = None
    classes_column: str | None = None
    max_invalid_row_pct: float
    status: SnapshotStatus
    progress: SnapshotProgress
    row_count: int
    invalid_row_count: int
    invalid_reasons: dict[str, int]
    heads: list[Head]
    stats: dict[str, Any]
    sha256: str | None
    error: str | None
    created_at: datetime


class ManifestColumns(BaseModel):
    """The dataset columns a snapshot read, by the request field that named each (``input`` for
    ``input_column``)."""

    input: str | None
    prompt: str | None
    completion: str | None
    messages: str | None
    boxes: str | None = None
    mask: str | None = None
    classes: str | None = None

    @classmethod
    def of(cls, column: Callable[[str], str | None]) -> ManifestColumns:
        """From the dataset column named for each field (``input_column``), or None."""
        return cls(**{name.removesuffix("_column"): column(name) for name in COLUMN_FIELDS})


class SnapshotManifest(BaseModel):
    """The JSON file stored beside a snapshot's Parquet data (``GET /v1/snapshots/{id}/manifest``)."""

    snapshot_id: str
    type: SnapshotType
    columns: ManifestColumns
    heads: list[Head]
    dataset_id: str
    dataset_version: int
    row_count: int
    invalid_row_count: int
    invalid_reasons: dict[str, int]
    sha256: str = Field(description="over a canonical form of the rows")
    stats: dict[str, Any]
    data: str = Field(description="the Parquet file's key in the object store")
    created_at: datetime


class InvalidRow(BaseModel):
    row_id: int
    index: int
    reasons: list[str]


class SplitCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    test_pct: float = Field(description="the test part's share of the rows (0-100, exclusive)", gt=0, lt=100)
    seed: int = Field(description="the same seed and share give the same split", default=0, ge=0, le=2**31 - 1)


class SplitClass(BaseModel):
    name: str
    train: int
    test: int


class SplitHead(BaseModel):
    name: str
    classes: list[SplitClass]


class Split(BaseModel):
    id: str
    snapshot_id: str
    seed: int
    test_pct: float
    train_rows: int
    test_rows: int
    heads: list[SplitHead]
    created_at: datetime


class Leakage(BaseModel):
    duplicate_rows: int = Field(description="test rows whose input also appears in the train snapshot")


class Compatibility(BaseModel):
    compatible: bool
    problems: list[str]
    leakage: Leakage
