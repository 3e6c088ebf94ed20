"""Object-detection uploads, read as a table of one row per image: ``{"image": <path in the zip>, "boxes":
[{"label": ..., "box": [x_min, y_min, x_max, y_max]}]}`` (JSON lines, for the JSONL parser). Two layouts:

- a COCO annotation file (``images[].file_name`` relative to the zip, ``annotations[]`` with ``image_id``,
  ``category_id`` and ``bbox`` = [x, y, width, height] in pixels, ``categories[]`` with ``id`` and ``name``);
- a CSV of one box per row: ``image,label,x_min,y_min,x_max,y_max`` in pixels (a row with no label and no
  coordinates lists an image without objects).

A structural problem (a missing key, a bbox that is not four numbers) fails the upload with where it is. A box
that is outside its image, empty, or of a category the file does not name is kept as it is written (an unknown
category as a null label): the snapshot refuses it with its reason, and the row can be corrected."""

from __future__ import annotations

import csv
import io
import json
import math
import zipfile
from collections.abc import Iterator
from typing import Any

from automl_common import jsonlimits
from dataset_svc.datasets.parsing import UploadFormatError

BOX_CSV_HEADER = ("image", "label", "x_min", "y_min", "x_max", "y_max")


def is_annotation_file(name: str) -> bool:
    """A COCO annotation file's name (a zip with no CSV, TSV or JSONL table holds one)."""
    return name.lower().endswith(".json") and "__MACOSX" not in name


def has_box_header(archive: zipfile.ZipFile, name: str) -> bool:
    """Whether a CSV member's header is the one-box-per-row layout."""
    if not name.lower().endswith(".csv"):
        return False
    with archive.open(name) as member:
        first = member.readline(4096).decode("utf-8-sig", errors="replace")
    return tuple(cell.strip().lower() for cell in first.split(",")) == BOX_CSV_HEADER


def _member(archive: zipfile.ZipFile, name: str, max_bytes: int) -> bytes:
    if archive.getinfo(name).file_size > max_bytes:
        raise UploadFormatError(f"{name}: the annotation file is larger than the limit of {max_bytes} bytes")
    with archive.open(name) as member:
        data = member.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise UploadFormatError(f"{name}: the annotation file is larger than the limit of {max_bytes} bytes")
    return data


def _line(image: str, boxes: list[dict[str, Any]], max_boxes: int, where: str) -> bytes:
    if len(boxes) > max_boxes:
        raise UploadFormatError(f"{where}: {len(boxes)} boxes in image {image!r}, more than the limit of {max_boxes}")
    return json.dumps({"image": image, "boxes": boxes}).encode() + b"\n"


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise UploadFormatError(f"{where}: must be a number, not {json.dumps(value)[:40]}")
    return float(value)


def coco_lines(archive: zipfile.ZipFile, name: str, max_bytes: int, max_boxes: int) -> Iterator[bytes]:
    """A COCO file's images, in its order, each with its boxes as [x_min, y_min, x_max, y_max]."""
    try:
        document = jsonlimits.loads(_member(archive, name, max_bytes))
    except ValueError as error:
        raise UploadFormatError(f"{name}: not valid JSON ({error})") from error
    if not isinstance(document, dict) or not isinstance(document.get("images"), list):
        raise UploadFormatError(f"{name}: a COCO file is an object with images, annotations and categories")
    categories: dict[Any, str] = {}
    for position, category in enumerate(document.get("categories") or []):
        if not isinstance(category, dict) or "id" not in category or not isinstance(category.get("name"), str):
            raise UploadFormatError(f"{name}: categories[{position}] needs an id and a name")
        categories[category["id"]] = category["name"]
    files: dict[Any, str] = {}
    for position, image in enumerate(document["images"]):
        if not isinstance(image, dict) or "id" not in image or not isinstance(image.get("file_name"), str):
            raise UploadFormatError(f"{name}: images[{position}] needs an id and a file_name")
        if image["id"] in files:
            raise UploadFormatError(f"{name}: images[{position}]: id {image['id']!r} appears twice")
        files[image["id"]] = image["file_name"]
    boxes: dict[Any, list[dict[str, Any]]] = {image_id: [] for image_id in files}
    for position, annotation in enumerate(document.get("annotations") or []):
        where = f"{name}: annotations[{position}]"
        if not isinstance(annotation, dict):
            raise UploadFormatError(f"{where}: must be an object")
        if annotation.get("image_id") not in files:
            raise UploadFormatError(f"{where}: image_id {annotation.get('image_id')!r} is not in images")
        bbox = annotation.get("bbox")
        if not isinstance(bbox, list) or len(bbox) != 4:
            raise UploadFormatError(f"{where}.bbox: must be [x, y, width, height]")
        x, y, width, height = (_number(value, f"{where}.bbox") for value in bbox)
        label = categories.get(annotation.get("category_id"))  # None: a category the file does not name
        boxes[annotation["image_id"]].append({"label": label, "box": [x, y, x + width, y + height]})
    for image_id, file_name in files.items():
        yield _line(file_name, boxes[image_id], max_boxes, name)


def box_csv_lines(archive: zipfile.ZipFile, name: str, max_bytes: int, max_boxes: int) -> Iterator[bytes]:
    """A one-box-per-row CSV, grouped by image (in the order images first appear)."""
    text = _member(archive, name, max_bytes).decode("utf-8-sig", errors="replace")
    reader = csv.reader(io.StringIO(text))
    next(reader, None)
    boxes: dict[str, list[dict[str, Any]]] = {}
    for line, cells in enumerate(reader, start=2):
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(BOX_CSV_HEADER):
            raise UploadFormatError(f"{name}: line {line}: {len(cells)} fields, expected {len(BOX_CSV_HEADER)}")
        image, label, *corners = (cell.strip() for cell in cells)
        if not image:
            raise UploadFormatError(f"{name}: line {line}: image: empty")
        listed = boxes.setdefault(image, [])
        if not label and not any(corners):
            continue  # an image without objects
        try:
            box = [float(value) for value in corners]
        except ValueError:
            raise UploadFormatError(f"{name}: line {line}: x_min, y_min, x_max, y_max must be numbers") from None
        if not all(math.isfinite(value) for value in box):
            raise UploadFormatError(f"{name}: line {line}: x_min, y_min, x_max, y_max must be finite")
        listed.append({"label": label or None, "box": box})
    for image, listed in boxes.items():
        yield _line(image, listed, max_boxes, name)
