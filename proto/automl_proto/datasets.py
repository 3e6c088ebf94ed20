"""Public schemas of datasets and their rows (served by dataset-svc through the gateway), and the export
line format that snapshot-svc reads."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# "boxes": a JSON list of labelled boxes (``LabelledBox``), an image's objects for detection; "mask": an image
# whose pixel values are class indexes (a segmentation mask), fetched into the dataset as images are
ColumnType = Literal["text", "image", "json", "label", "number", "boxes", "mask", "ignore"]
# The column types whose cells name an image file (a URL or a path in the zip) that the dataset fetches and keeps.
IMAGE_COLUMN_TYPES: tuple[str, ...] = ("image", "mask")
DatasetStatus = Literal["processing", "ready", "failed"]
RowStatus = Literal["ok", "invalid", "image_failed"]
JsonValue = str | int | float | bool | None | dict[str, Any] | list[Any]


class LabelledBox(BaseModel):
    """One object in an image: its class, and its box in the image's pixels."""

    model_config = ConfigDict(extra="forbid")

    label: str | None = Field(
        max_length=200, description="the object's class; null where the annotation file named an unknown category"
    )
    box: tuple[float, float, float, float] = Field(description="[x_min, y_min, x_max, y_max] in pixels")


BOXES_DESCRIPTION = 'a list of {"label": ..., "box": [x_min, y_min, x_max, y_max]} in the image\'s pixels'


class Column(BaseModel):
    name: str
    type: ColumnType
    inferred_type: ColumnType
    distinct_count: int = Field(description="distinct non-empty values (a lower bound when distinct_capped)")
    distinct_capped: bool = False
    empty_count: int
    samples: list[Any]


class SourceFile(BaseModel):
    filename: str
    format: Literal["csv", "tsv", "jsonl", "zip"]
    bytes: int
    sha256: str | None


class ImageCounts(BaseModel):
    pending: int = 0
    ok: int = 0
    failed: int = 0


class Dataset(BaseModel):
    id: str
    name: str
    status: DatasetStatus
    version: int
    row_count: int
    invalid_row_count: int
    columns: list[Column]
    mapping_confirmed: bool
    error: str | None
    source: SourceFile
    images: ImageCounts
    created_at: datetime
    updated_at: datetime


class ColumnMapping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    columns: dict[str, ColumnType] = Field(min_length=1, description="column name -> type; others keep theirs")


class Asset(BaseModel):
    status: Literal["pending", "ok", "failed"]
    sha256: str | None
    reason: str | None
    width: int | None = None
    height: int | None = None
    histogram: dict[str, int] | None = Field(
        default=None, description="a one-channel image's (a mask's) pixels per value; null for colour images"
    )


class Row(BaseModel):
    id: int
    index: int
    line: int | None
    values: dict[str, Any]
    status: RowStatus
    errors: list[str] | None
    assets: dict[str, Asset]


class RowValues(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"values": {"sentiment": "positive"}}]})

    values: dict[str, JsonValue] = Field(
        description="column -> new value; the columns left out keep theirs", min_length=1
    )


class RowsCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"rows": [{"values": {"text": "Arrived broken.", "sentiment": "negative"}}]}]},
    )

    rows: list[RowValues] = Field(description="the rows to add, each a column -> value object", min_length=1)


class RowsPage(BaseModel):
    items: list[Row]
    next: str | None = None


class ExportHeader(BaseModel):
    """The first line of ``GET /v1/datasets/{id}/export``; rows follow, then an ``ExportTrailer``."""

    kind: Literal["header"] = "header"
    dataset_id: str
    version: int
    columns: list[Column]


class ExportTrailer(BaseModel):
    kind: Literal["trailer"] = "trailer"
    rows: int
    version: int
    complete: bool = Field(description="false if the dataset changed while it was exported; read it again")
