"""Numbers typed into the console's forms, read with the field's name in every refusal: a form value that is no
number (or no finite one) is the user's mistake, answered 422 with the field, never a server error."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from fastapi.responses import Response
from pydantic import ValidationError


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


def typed(form: Any, *leave_out: str) -> dict[str, str]:
    """What the user typed in a form's text fields (not its CSRF token, nor ``leave_out``), to show it again."""
    skipped = {"csrf_token", *leave_out}
    return {key: value for key, value in form.items() if isinstance(value, str) and key not in skipped}


@dataclass(frozen=True)
class FormError:
    """Why a create form was refused, shown beside the field it names (``field`` None: above the form); the
    page is rendered again with what the user typed, so nothing is lost."""

    field: str | None
    message: str
    error: str = "InvalidRequest"

    def at(self, name: str) -> str | None:
        return self.message if self.field == name else None


def form_error(error: Exception, fields: Iterable[str]) -> FormError | None:
    """The refusal of a form's request as a ``FormError``; None for what is no form mistake (a revoked key,
    the platform down), left to the console's error pages."""
    from automl_client import errors

    known = set(fields)

    def named(path: str) -> str | None:
        """The form field a refusal's path names: "options.lora.r" is the option input "opt:lora.r"."""
        path = path.strip()
        for candidate in (f"opt:{path.removeprefix('options.')}" if path.startswith("options.") else "", path):
            if candidate in known:
                return candidate
        top = path.split(".")[0]
        return top if top in known else None

    if isinstance(error, FormInvalid):
        return FormError(named(error.field), error.reason)
    if isinstance(error, ValidationError):  # the SDK's own check of the request, before it is sent
        problem = error.errors(include_url=False)[0]
        return FormError(named(".".join(str(part) for part in problem["loc"])), problem["msg"])
    if isinstance(error, errors.APIError) and not isinstance(error, errors.Unauthorized) and error.status < 500:
        # The API names the field first ("base_model: ... is for image_classification"), as every refusal does.
        head, _, rest = error.detail.partition(":")
        field = named(head) if rest and " " not in head.strip() else None
        if field is not None:
            return FormError(field, rest.strip(), error.error)
        return FormError(None, error.detail, error.error)
    return None


async def refused_form(
    error: Exception, fields: Iterable[str], page: Callable[[FormError, int], Awaitable[Response]]
) -> Response:
    """The page of a refused create form, rendered again by ``page`` with the reason and what was typed; an
    error that is no form mistake, or a page that cannot be rendered (the list's service is down), is
    raised as it came, for the console's error pages."""
    refused = form_error(error, fields)
    if refused is None:
        raise error
    from automl_client import errors

    try:
        return await page(refused, getattr(error, "status", 422))
    except errors.AutoMLClientError:
        raise error from None
