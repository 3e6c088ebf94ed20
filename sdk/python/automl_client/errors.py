"""One exception per error class of the API. Every error answer has one shape, ``{"error", "detail",
"request_id"}``; the exception raised is the class named by ``error`` (``DatasetNotReady``,
``PlaygroundQuotaExhausted``...), a subclass of the class of its status (``Conflict``, ``RateLimited``...), so
callers catch as broadly or as narrowly as they need:

    try:
        client.models.playground(model_id, "hello")
    except errors.PlaygroundQuotaExhausted:  # or errors.RateLimited, or errors.APIError
        ...
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import httpx


class AutoMLClientError(Exception):
    """Everything this package raises."""


class ConfigurationError(AutoMLClientError):
    """No URL or API key could be found (arguments, environment, profile file), or the profile is broken."""


class InvalidArguments(AutoMLClientError):
    """What a command was given cannot make a valid request (found before anything was sent)."""


class NameNotFound(InvalidArguments):
    """A resource named by its name: none of that kind has it (the CLI takes names where it takes ids)."""


class ConnectionFailed(AutoMLClientError):
    """The platform could not be reached (after the retries)."""


class WaitTimeout(AutoMLClientError):
    """A ``wait()`` ran out of time; ``last`` is the resource as last seen."""

    def __init__(self, message: str, last: Any) -> None:
        super().__init__(message)
        self.last = last


class ResourceFailed(AutoMLClientError):
    """A ``wait()`` ended in a failed (or cancelled) state; ``resource`` says why (its ``error``)."""

    def __init__(self, message: str, resource: Any) -> None:
        super().__init__(message)
        self.resource = resource


class APIError(AutoMLClientError):
    """An error answer of the API."""

    status_code: ClassVar[int] = 0

    def __init__(self, error: str, detail: str, request_id: str | None, status: int, headers: httpx.Headers) -> None:
        super().__init__(f"{status} {error}: {detail}" + (f" (request {request_id})" if request_id else ""))
        self.error = error
        self.detail = detail
        self.request_id = request_id
        self.status = status
        self.headers = headers

    @property
    def retry_after_s(self) -> float | None:
        return retry_after_s(self.headers)


class BadRequest(APIError):
    status_code = 400


class Unauthorized(APIError):
    status_code = 401


class Forbidden(APIError):
    status_code = 403


class NotFound(APIError):
    status_code = 404


class MethodNotAllowed(APIError):
    status_code = 405


class Conflict(APIError):
    status_code = 409


class PayloadTooLarge(APIError):
    status_code = 413


class UnsupportedMediaType(APIError):
    status_code = 415


class InvalidRequest(APIError):
    status_code = 422


class RateLimited(APIError):
    status_code = 429


class InternalError(APIError):
    status_code = 500


class BadGateway(APIError):
    status_code = 502


class ServiceUnavailable(APIError):
    status_code = 503


class GatewayTimeout(APIError):
    status_code = 504


# Error classes callers often catch by name; any other name the API sends gets a class made on first sight.
class PlaygroundQuotaExhausted(RateLimited):
    pass


class OrgQuotaExceeded(RateLimited):
    pass


class IdempotencyKeyInProgress(Conflict):
    pass


class IdempotencyKeyReused(InvalidRequest):
    pass


BY_STATUS: dict[int, type[APIError]] = {
    cls.status_code: cls
    for cls in (
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        MethodNotAllowed,
        Conflict,
        PayloadTooLarge,
        UnsupportedMediaType,
        InvalidRequest,
        RateLimited,
        InternalError,
        BadGateway,
        ServiceUnavailable,
        GatewayTimeout,
    )
}
_BY_NAME: dict[str, type[APIError]] = {cls.__name__: cls for cls in BY_STATUS.values()} | {
    cls.__name__: cls
    for cls in (PlaygroundQuotaExhausted, OrgQuotaExceeded, IdempotencyKeyInProgress, IdempotencyKeyReused)
}
_NAME = re.compile(r"^[A-Z][A-Za-z0-9]{0,63}$")


def error_class(name: str, status: int) -> type[APIError]:
    """The class for an ``error`` name: a known one, else one made (and kept) under the status's class."""
    parent = BY_STATUS.get(status, APIError)
    if not _NAME.match(name):
        return parent
    known = _BY_NAME.get(name)
    if known is not None:
        return known if issubclass(known, parent) else parent  # an unusual status for the name: the status decides
    made = type(name, (parent,), {"__module__": __name__, "__doc__": f"The API's {name} ({status})."})
    _BY_NAME[name] = made
    return made


def error_from(response: httpx.Response) -> APIError:
    try:
        body = response.json()
        error, detail, request_id = str(body["error"]), str(body["detail"]), body.get("request_id")
    except (ValueError, KeyError, TypeError):
        error = BY_STATUS.get(response.status_code, APIError).__name__
        detail = response.text[:500] or response.reason_phrase
        request_id = response.headers.get("x-request-id")
    return error_class(error, response.status_code)(error, detail, request_id, response.status_code, response.headers)


def retry_after_s(headers: httpx.Headers) -> float | None:
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: the platform sends seconds; treat as unknown
