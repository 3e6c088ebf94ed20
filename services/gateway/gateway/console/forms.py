"""Numbers typed into the console's forms, read with the field's name in every refusal: a form value that is no
number (or no finite one) is the user's mistake, answered 422 with the field, never a server error."""

from __future__ import annotations

import math
from typing import Any


class FormInvalid(Exception):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def _raw(form: Any, name: str) -> str:
    return str(form.get(name) or "").strip()


def integer(form: Any, name: str, default: int) -> int:
    """The field as a whole number (``default`` when empty); its range is the API's to check."""
    raw = _raw(form, name)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise FormInvalid(name, f"{raw[:40]!r} is not a whole number") from None


def number(form: Any, name: str, default: float) -> float:
    raw = _raw(form, name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise FormInvalid(name, f"{raw[:40]!r} is not a number") from None
    if not math.isfinite(value):
        raise FormInvalid(name, f"{raw[:40]!r} is not a finite number")
    return value
