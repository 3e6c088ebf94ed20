"""The one exception handler: every 4xx/5xx leaves a service in the shape of ``ErrorBody``."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from automl_common.errors import (
    AutoMLError,
    BadRequest,
    InternalError,
    InvalidRequest,
    MalformedJSON,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
)

logger = logging.getLogger("automl.errors")

_STATUS_ERRORS: dict[int, type[AutoMLError]] = {
    400: BadRequest,
    404: NotFound,
    405: MethodNotAllowed,
    413: PayloadTooLarge,
}


def _request_id(request: Request) -> str | None:
    value = request.scope.get("state", {}).get("request_id")
    return value if isinstance(value, str) else None


def error_json(error: AutoMLError, request: Request) -> JSONResponse:
    return JSONResponse(error.to_body(_request_id(request)), status_code=error.status_code, headers=error.headers)


def describe_validation_errors(errors: Sequence[Any]) -> AutoMLError:
    """Turn pydantic's error list into one readable sentence naming each field."""
    for error in errors:
        if error.get("type") == "json_invalid":
            ctx = error.get("ctx") or {}
            return MalformedJSON(f"request body is not valid JSON: {ctx.get('error', 'parse error')}")
    parts = []
    for error in errors:
        location = ".".join(str(part) for part in error.get("loc", ()))
        parts.append(f"{location}: {error.get('msg', 'invalid')}")
    return InvalidRequest("; ".join(parts) or "invalid request")


async def _automl_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AutoMLError)
    if exc.status_code >= 500:
        logger.error("%s: %s", exc.error, exc.detail)
    return error_json(exc, request)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_json(describe_validation_errors(exc.errors()), request)


async def _http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if isinstance(exc.__cause__, AutoMLError):  # FastAPI wraps what a body read raised ("error parsing the body")
        return error_json(exc.__cause__, request)
    error_class = _STATUS_ERRORS.get(exc.status_code)
    if exc.status_code == 404:
        error: AutoMLError = NotFound(f"no route for {request.method} {request.url.path}")
    elif exc.status_code == 405:
        error = MethodNotAllowed(f"{request.method} is not allowed on {request.url.path}")
    elif error_class is not None:
        error = error_class(str(exc.detail))
    else:
        error = type("HTTPError", (AutoMLError,), {"status_code": exc.status_code})(str(exc.detail))
    error.headers.update(exc.headers or {})
    return error_json(error, request)


async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error", exc_info=exc)
    return error_json(InternalError("internal error; the request id identifies it in the logs"), request)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AutoMLError, _automl_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_exception_handler(Exception, _unhandled)
