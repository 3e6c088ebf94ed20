"""Row validation for a snapshot: pure functions from a dataset export row to a snapshot row or reasons.

Which columns a row has and how each cell is read is the type's snapshot rule (``automl_proto.model_types``):
this module has one reader per kind of cell, and no type's name. A row needs its inputs and, where the type
has heads, at least one labelled head. A row without a label for some head simply has no
label there: partial labels are normal (a row may teach one head only)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from automl_common import jsonlimits
from automl_proto import model_types
from automl_proto.datasets import LabelledBox
from automl_proto.model_types import CellReader, SnapshotColumn
from automl_proto.snapshots import HeadSpec

IGNORED_PIXEL = 255  # a mask pixel that is not scored
MAX_MASK_CLASSES = 255  # class indexes 0-254


@dataclass(frozen=True)
class Spec:
    """A snapshot's request, as the build reads it: its type's columns (the form the request named, each with
    the dataset column it reads) and its heads."""

    type: str
    columns: tuple[tuple[SnapshotColumn, str], ...]
    heads: tuple[HeadSpec, ...]
    max_text_chars: int

    @classmethod
    def from_dict(cls, spec: dict[str, Any], max_text_chars: int) -> Spec:
        rule = model_types.info(spec["type"]).snapshot
        named = {name: str(spec[name]) for name in rule.fields if spec.get(name)}
        form = rule.form(set(named))
        if form is None:  # requests are checked against the same rule (``SnapshotCreate``)
            raise ValueError(f"a {spec['type']} snapshot needs {rule.describe()}")
        return cls(
            type=spec["type"],
            columns=tuple((column, named[column.field]) for column in form),
            heads=tuple(HeadSpec(**head) for head in spec.get("heads", [])),
            max_text_chars=max_text_chars,
        )

    def column(self, field_name: str) -> str | None:
        """The dataset column the request named for ``field_name`` (``input_column``), if it named one."""
        return next((name for column, name in self.columns if column.field == field_name), None)

    @property
    def objects_column(self) -> str | None:
        """The dataset column of a detection snapshot's boxes: its labels are the snapshot's classes."""
        return next((name for column, name in self.columns if column.reader == "boxes"), None)

    @property
    def mask_column(self) -> str | None:
        """The dataset column of a segmentation snapshot's masks: its classes' images are counted under it."""
        return next((name for column, name in self.columns if column.reader == "mask"), None)

    @property
    def stored(self) -> list[str]:
        """The snapshot's own columns for the inputs, in the form's order."""
        return [column.stored_as for column, _ in self.columns]


@dataclass
class ValidRow:
    row_id: int
    index: int
    values: list[str]  # per column of the form: the text, the image's sha256, the messages as JSON
    input_hash: str  # of the first (for leakage between snapshots)
    labels: list[list[str]]  # per head, its classes (empty: no label for that head)
    text_length: int | None = None
    image_size: tuple[int, int] | None = None
    objects: list[str] | None = None  # a detection row's boxes' classes
    pixels: dict[str, int] | None = None  # a segmentation row's pixels per class
    classes: str | None = None  # a segmentation row's class names (JSON): one list for the whole snapshot


@dataclass
class InvalidRow:
    row_id: int
    index: int
    reasons: list[str] = field(default_factory=list)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else str(value)


def input_hash(value: str) -> str:
    # Whitespace and case differences do not make a different example.
    return hashlib.blake2b(" ".join(value.lower().split()).encode(), digest_size=16).hexdigest()


def parse_labels(value: Any, head: HeadSpec) -> list[str] | None:
    """The head's classes in this cell; [] when unlabelled; None when a multi-label value cannot be read."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return []
    if not head.multilabel:
        return [_text(value).strip()]
    if isinstance(value, list):
        items: list[Any] = value
    elif head.separator is not None:
        items = _text(value).split(head.separator)
    else:
        try:
            items = jsonlimits.loads(value) if isinstance(value, str) else value
        except ValueError:
            return None
        if not isinstance(items, list):
            return None
    if not all(isinstance(item, str | int | float) and not isinstance(item, bool) for item in items):
        return None
    labels = sorted({str(item).strip() for item in items if str(item).strip()})
    return labels


def _valid_messages(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value = jsonlimits.loads(value)
        except ValueError:
            return False
    return (
        isinstance(value, list)
        and bool(value)
        and all(
            isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str) for m in value
        )
    )


@dataclass
class Cell:
    """One input cell as read: its value for the snapshot, or why the row is left out."""

    value: str
    reasons: list[str] = field(default_factory=list)
    text_length: int | None = None
    image_size: tuple[int, int] | None = None
    objects: list[str] | None = None  # the classes of the objects it names (boxes)
    classes: list[str] | None = None  # the class names, by index (a segmentation row's)
    pixels: dict[str, int] | None = None  # a mask's pixels per class name


def _read_text(row: dict[str, Any], column: str, before: list[Cell]) -> Cell:
    value = _text((row.get("values") or {}).get(column))
    return Cell(value, [] if value.strip() else ["missing_input"], text_length=len(value))


def _read_image(row: dict[str, Any], column: str, before: list[Cell]) -> Cell:
    """An image column's cell is its source (a URL or a path in the zip); the dataset fetched it into an asset."""
    asset = (row.get("assets") or {}).get(column)
    if not _text((row.get("values") or {}).get(column)).strip():
        return Cell("", ["missing_input"])
    if asset is None or asset.get("status") != "ok" or not asset.get("sha256"):
        return Cell("", ["image_not_fetched"])
    size = (int(asset["width"]), int(asset["height"])) if asset.get("width") and asset.get("height") else None
    return Cell(str(asset["sha256"]), image_size=size)


def _read_messages(row: dict[str, Any], column: str, before: list[Cell]) -> Cell:
    raw = (row.get("values") or {}).get(column)
    value = raw if isinstance(raw, str) else json.dumps(raw)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return Cell(value, ["missing_input"], text_length=len(value))
    return Cell(value, [] if _valid_messages(raw) else ["invalid_messages"], text_length=len(value))


def _box_problem(box: LabelledBox, size: tuple[int, int] | None) -> str | None:
    x_min, y_min, x_max, y_max = box.box
    if not box.label or not box.label.strip():
        return "unknown_category"
    if x_max <= x_min or y_max <= y_min:
        return "box_empty"
    if x_min < 0 or y_min < 0 or (size is not None and (x_max > size[0] or y_max > size[1])):
        return "box_outside_image"
    return None


def _read_boxes(row: dict[str, Any], column: str, before: list[Cell]) -> Cell:
    """An image's labelled boxes, each inside the image read before it (its size from the dataset's asset),
    of positive area and with a class. No box is a valid row: an image without objects."""
    raw = (row.get("values") or {}).get(column)
    if isinstance(raw, str):
        try:
            raw = jsonlimits.loads(raw) if raw.strip() else []
        except ValueError:
            return Cell("", ["invalid_boxes"])
    try:
        boxes = [LabelledBox.model_validate(item) for item in (raw or [])]
    except (ValidationError, TypeError):
        return Cell("", ["invalid_boxes"])
    size = next((cell.image_size for cell in before if cell.image_size is not None), None)
    reasons = sorted({problem for box in boxes if (problem := _box_problem(box, size)) is not None})
    value = json.dumps([box.model_dump(mode="json") for box in boxes], separators=(",", ":"))
    return Cell(value, reasons, objects=[str(box.label).strip() for box in boxes])


def _read_classes(row: dict[str, Any], column: str, before: list[Cell]) -> Cell:
    """The class names by index (an upload's labels.txt): a non-empty list of distinct names."""
    raw = (row.get("values") or {}).get(column)
    if isinstance(raw, str):
        try:
            raw = jsonlimits.loads(raw) if raw.strip() else None
        except ValueError:
            raw = None
    valid = (
        isinstance(raw, list)
        and 0 < len(raw) <= MAX_MASK_CLASSES
        and all(isinstance(name, str) and 0 < len(name.strip()) <= 200 for name in raw)
        and len({name.strip() for name in raw}) == len(raw)
    )
    if not valid or not isinstance(raw, list):
        return Cell("", ["invalid_classes"])
    names = [name.strip() for name in raw]
    return Cell(json.dumps(names, separators=(",", ":")), classes=names)


def _read_mask(row: dict[str, Any], column: str, before: list[Cell]) -> Cell:
    """A mask (an image the dataset fetched, with its pixels per value read then): one channel, its image's
    size, and every value a class index of the row's classes (read before it) or 255 (not scored)."""
    if not _text((row.get("values") or {}).get(column)).strip():
        return Cell("", ["missing_input"])
    asset = (row.get("assets") or {}).get(column)
    if asset is None or asset.get("status") != "ok" or not asset.get("sha256"):
        return Cell("", ["mask_not_fetched"])
    histogram = asset.get("histogram")
    if not isinstance(histogram, dict):
        return Cell("", ["mask_not_one_channel"])
    reasons = []
    image = next((cell.image_size for cell in before if cell.image_size is not None), None)
    size = (int(asset["width"]), int(asset["height"])) if asset.get("width") and asset.get("height") else None
    if image is not None and size != image:
        reasons.append("mask_size_mismatch")
    names = next((cell.classes for cell in before if cell.classes is not None), None)
    pixels: dict[str, int] = {}
    if names is not None:
        for value, count in histogram.items():
            index = int(value)
            if index == IGNORED_PIXEL:
                continue
            if index >= len(names):
                reasons.append("mask_value_unknown")
                break
            pixels[names[index]] = int(count)
    return Cell(str(asset["sha256"]), reasons, pixels=pixels)


READERS: dict[CellReader, Callable[[dict[str, Any], str, list[Cell]], Cell]] = {
    "text": _read_text,
    "image": _read_image,
    "messages": _read_messages,
    "boxes": _read_boxes,
    "classes": _read_classes,
    "mask": _read_mask,
}


def validate_row(row: dict[str, Any], spec: Spec) -> ValidRow | InvalidRow:
    row_id, index = int(row["id"]), int(row["index"])
    if row.get("status") == "invalid":
        return InvalidRow(row_id, index, ["invalid_in_dataset"])
    values: dict[str, Any] = row.get("values") or {}
    cells: list[Cell] = []
    for column, name in spec.columns:
        cells.append(READERS[column.reader](row, name, cells))
    reasons = [reason for cell in cells for reason in cell.reasons]
    lengths = [cell.text_length for cell in cells if cell.text_length is not None]
    text_length = sum(lengths) if lengths else None
    if text_length is not None and text_length > spec.max_text_chars and "missing_input" not in reasons:
        reasons.append("text_too_long")
    image_size = next((cell.image_size for cell in cells if cell.image_size is not None), None)

    labels: list[list[str]] = []
    for head in spec.heads:
        parsed = parse_labels(values.get(head.column), head)
        if parsed is None:
            reasons.append("unparseable_multilabel")
            parsed = []
        labels.append(parsed)
    if spec.heads and not any(labels) and "unparseable_multilabel" not in reasons:
        reasons.append("no_label")
    if reasons:
        return InvalidRow(row_id, index, sorted(set(reasons)))
    inputs = [cell.value for cell in cells]
    objects = next((cell.objects for cell in cells if cell.objects is not None), None)
    pixels = next((cell.pixels for cell in cells if cell.pixels is not None), None)
    classes = next((cell.value for cell in cells if cell.classes is not None), None)
    return ValidRow(
        row_id, index, inputs, input_hash(inputs[0]), labels, text_length, image_size, objects, pixels, classes
    )
