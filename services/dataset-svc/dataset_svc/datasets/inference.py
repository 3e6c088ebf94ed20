"""Column type inference from streaming statistics (constant memory per column, whatever the row count)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from automl_common import jsonlimits

COLUMN_TYPES = ("text", "image", "json", "label", "number", "boxes", "mask", "ignore")
DISTINCT_CAP = 10_000
SAMPLE_COUNT = 5
SAMPLE_CHARS = 200
LABEL_MAX_DISTINCT = 50
LABEL_MAX_CHARS = 64

_IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp")
_URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)
_IMAGE_NAME_HINT = re.compile(r"(image|img|photo|picture|thumbnail|avatar)", re.IGNORECASE)
_MASK_NAME_HINT = re.compile(r"(mask|label_?map|segmentation)", re.IGNORECASE)  # images of class indexes


def is_url(value: str) -> bool:
    return bool(_URL.match(value))


def looks_like_image_path(value: str) -> bool:
    return value.lower().split("?", 1)[0].endswith(_IMAGE_EXTENSIONS)


@dataclass
class ColumnStats:
    name: str
    non_empty: int = 0
    empty: int = 0
    numeric: int = 0
    integer: int = 0
    json_like: int = 0
    boxes_like: int = 0  # lists of labelled boxes (``LabelledBox``)
    boxes_seen: int = 0  # of which not empty
    urls: int = 0
    image_urls: int = 0
    zip_images: int = 0
    max_chars: int = 0
    distinct: set[str] = field(default_factory=set)
    distinct_capped: bool = False
    samples: list[Any] = field(default_factory=list)

    def add(self, value: Any, zip_member: Callable[[str], bool] | None = None) -> None:
        if value is None or (isinstance(value, str) and not value.strip()):
            self.empty += 1
            return
        self.non_empty += 1
        if isinstance(value, dict | list):
            self.json_like += 1
            if is_boxes(value):
                self.boxes_like += 1
                self.boxes_seen += bool(value)
            text = json.dumps(value, sort_keys=True)
        elif isinstance(value, bool):
            text = str(value).lower()
        elif isinstance(value, int | float):
            self.numeric += 1
            self.integer += isinstance(value, int) or float(value).is_integer()
            text = str(value)
        else:
            text = str(value).strip()
            if _is_number(text):
                self.numeric += 1
                self.integer += text.lstrip("+-").isdigit()
            elif text[0] in "{[" and _is_json_container(text):
                self.json_like += 1
            elif is_url(text):
                self.urls += 1
                self.image_urls += looks_like_image_path(text)
            elif zip_member is not None and (looks_like_image_path(text) or zip_member(text)):
                self.zip_images += 1  # a path into the uploaded zip (or named like an image file)
        self.max_chars = max(self.max_chars, len(text))
        if not self.distinct_capped and text not in self.distinct:
            if len(self.distinct) >= DISTINCT_CAP:
                self.distinct_capped = True
            else:
                self.distinct.add(text)
                if len(self.samples) < SAMPLE_COUNT:
                    self.samples.append(value if not isinstance(value, str) else value[:SAMPLE_CHARS])

    @property
    def distinct_count(self) -> int:
        return len(self.distinct) + (1 if self.distinct_capped else 0)

    def infer(self) -> str:
        n = self.non_empty
        if n == 0:
            return "ignore"
        images = self.zip_images >= 0.9 * n or (self.zip_images >= 0.5 * n and _IMAGE_NAME_HINT.search(self.name))
        if images or (self.urls >= 0.9 * n and (self.image_urls >= 0.5 * n or _IMAGE_NAME_HINT.search(self.name))):
            return "mask" if _MASK_NAME_HINT.search(self.name) else "image"
        if self.boxes_like >= 0.9 * n and self.boxes_seen:
            return "boxes"
        if self.json_like >= 0.9 * n:
            return "json"
        few = not self.distinct_capped and self.distinct_count <= LABEL_MAX_DISTINCT
        if few and self.max_chars <= LABEL_MAX_CHARS and self.distinct_count <= max(2, n // 2):
            return "label"
        if self.numeric == n:
            # A column of distinct integers is a row id, not a feature.
            if self.integer == n and not self.distinct_capped and self.distinct_count == n and n > LABEL_MAX_DISTINCT:
                return "ignore"
            return "number"
        return "text"


def is_boxes(value: Any) -> bool:
    """A list of ``{"label": ..., "box": [four numbers]}`` (an object detection row's objects)."""
    return isinstance(value, list) and all(
        isinstance(item, dict) and isinstance(item.get("box"), list) and len(item["box"]) == 4 for item in value
    )


def _is_number(text: str) -> bool:
    if len(text) > 40:
        return False
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _is_json_container(text: str) -> bool:
    try:
        return isinstance(jsonlimits.loads(text), dict | list)
    except ValueError:
        return False


def new_stats(columns: Iterable[str]) -> dict[str, ColumnStats]:
    return {name: ColumnStats(name) for name in columns}
