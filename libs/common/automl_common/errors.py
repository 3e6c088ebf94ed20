"""The one error base of the platform.

Every expected failure is an ``AutoMLError`` subclass carrying its HTTP status; one handler turns it into
``{"error": "<ErrorClass>", "detail": "...", "request_id": "..."}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from automl_common.schemas import ErrorBody


class AutoMLError(Exception):
    status_code: ClassVar[int] = 500

    def __init__(self, detail: str, *, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers: dict[str, str] = dict(headers or {})

    @property
    def error(self) -> str:
        return type(self).__name__

    def to_body(self, request_id: str | None) -> dict[str, str | None]:
        return {"error": self.error, "detail": self.detail, "request_id": request_id}


class BadRequest(AutoMLError):
    status_code = 400


class MalformedJSON(BadRequest):
    pass


class Unauthorized(AutoMLError):
    status_code = 401


class Forbidden(AutoMLError):
    status_code = 403


class NotFound(AutoMLError):
    status_code = 404


class MethodNotAllowed(AutoMLError):
    status_code = 405


class Conflict(AutoMLError):
    status_code = 409


class PayloadTooLarge(AutoMLError):
    status_code = 413


class UnsupportedMediaType(AutoMLError):
    status_code = 415


class InvalidRequest(AutoMLError):
    """The request parsed but a field failed validation."""

    status_code = 422


class RateLimited(AutoMLError):
    status_code = 429


class InternalError(AutoMLError):
    status_code = 500


class BadGateway(AutoMLError):
    status_code = 502


class ServiceUnavailable(AutoMLError):
    status_code = 503


class GatewayTimeout(AutoMLError):
    status_code = 504


def error_responses(*errors: type[AutoMLError]) -> dict[int | str, dict[str, object]]:
    """The ``responses=`` mapping for an endpoint that can raise ``errors`` (OpenAPI documentation)."""
    responses: dict[int | str, dict[str, object]] = {}
    for error in errors:
        entry = responses.setdefault(error.status_code, {"model": ErrorBody, "description": ""})
        names = [n for n in str(entry["description"]).split(", ") if n]
        names.append(error.__name__)
        entry["description"] = ", ".join(names)
    return responses
