"""Row validation for a snapshot: pure functions from a dataset export row to a snapshot row or reasons.

A row needs its input and at least one labelled head. A row without a label for some head simply has no
label there: partial labels are normal (a row may teach one head only)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from automl_common import jsonlimits
from automl_proto.snapshots import HeadSpec


@dataclass(frozen=True)
class Spec:
    type: str
    input_column: str | None
    prompt_column: str | None
    completion_column: str | None
    messages_column: str | None
    heads: tuple[HeadSpec, ...]
    max_text_chars: int

    @classmethod
    def from_dict(cls, spec: dict[str, Any], max_text_chars: int) -> Spec:
        return cls(
            type=spec["type"],
            input_column=spec.get("input_column"),
            prompt_column=spec.get("prompt_column"),
            completion_column=spec.get("completion_column"),
            messages_column=spec.get("messages_column"),
            heads=tuple(HeadSpec(**head) for head in spec.get("heads", [])),
            max_text_chars=max_text_chars,
        )


@dataclass
class ValidRow:
    row_id: int
    index: int
    input: str  # the text, the image's sha256, the prompt, or the messages as JSON
    input_hash: str  # for leakage between snapshots
    labels: list[list[str]]  # per head, its classes (empty: no label for that head)
    completion: str | None = None
    text_length: int | None = None
    image_size: tuple[int, int] | None = None


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


def validate_row(row: dict[str, Any], spec: Spec) -> ValidRow | InvalidRow:
    row_id, index = int(row["id"]), int(row["index"])
    if row.get("status") == "invalid":
        return InvalidRow(row_id, index, ["invalid_in_dataset"])
    values: dict[str, Any] = row.get("values") or {}
    reasons: list[str] = []
    completion: str | None = None
    text_length: int | None = None
    image_size: tuple[int, int] | None = None

    if spec.type == "image_classification":
        assert spec.input_column is not None
        asset = (row.get("assets") or {}).get(spec.input_column)
        source = _text(values.get(spec.input_column)).strip()
        if not source:
            reasons.append("missing_input")
            value = ""
        elif asset is None or asset.get("status") != "ok" or not asset.get("sha256"):
            reasons.append("image_not_fetched")
            value = ""
        else:
            value = str(asset["sha256"])
            if asset.get("width") and asset.get("height"):
                image_size = (int(asset["width"]), int(asset["height"]))
        hashed = value
    elif spec.type == "text_classification":
        assert spec.input_column is not None
        value = _text(values.get(spec.input_column))
        if not value.strip():
            reasons.append("missing_input")
        elif len(value) > spec.max_text_chars:
            reasons.append("text_too_long")
        text_length = len(value)
        hashed = value
    elif spec.messages_column is not None:
        raw = values.get(spec.messages_column)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            reasons.append("missing_input")
        elif not _valid_messages(raw):
            reasons.append("invalid_messages")
        value = raw if isinstance(raw, str) else json.dumps(raw)
        if len(value) > spec.max_text_chars:
            reasons.append("text_too_long")
        text_length = len(value)
        hashed = value
    else:
        assert spec.prompt_column is not None
        assert spec.completion_column is not None
        value = _text(values.get(spec.prompt_column))
        completion = _text(values.get(spec.completion_column))
        if not value.strip() or not completion.strip():
            reasons.append("missing_input")
        elif len(value) + len(completion) > spec.max_text_chars:
            reasons.append("text_too_long")
        text_length = len(value) + len(completion)
        hashed = value

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
    return ValidRow(row_id, index, value, input_hash(hashed), labels, completion, text_length, image_size)
