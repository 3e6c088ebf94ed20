"""Each service's OpenAPI document says what its endpoints really answer: every error in the one error shape
(``ErrorBody``; FastAPI's own ``HTTPValidationError`` is never sent, the shared handler answers validation
errors too), and the errors any endpoint can give whatever its code (a malformed or oversized body, a path no
resource has, a missing internal token) listed on every operation they apply to."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from automl_common.schemas import ErrorBody

_ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}
_ERROR_CONTENT = {"application/json": {"schema": _ERROR_REF}}
_METHODS = ("get", "put", "post", "delete", "patch")


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": _ERROR_CONTENT}


def install_openapi(app: FastAPI, *, requires_auth: bool) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = get_openapi(title=app.title, version=app.version, routes=app.routes)
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        schemas["ErrorBody"] = ErrorBody.model_json_schema()
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        for path, item in document.get("paths", {}).items():
            for method in _METHODS:
                operation = item.get(method)
                if operation is None:
                    continue
                _document_errors(operation, path, method, requires_auth)
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _document_errors(operation: dict[str, Any], path: str, method: str, requires_auth: bool) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    for status, response in responses.items():
        if status.startswith(("4", "5")):
            response["content"] = _ERROR_CONTENT
    has_body = "requestBody" in operation
    has_parameters = bool(operation.get("parameters")) or has_body
    general = {
        "422": ("InvalidRequest: a parameter or field failed validation", has_parameters),
        "400": ("BadRequest: the body is malformed (not JSON, or a broken form)", has_body),
        "413": ("PayloadTooLarge: the body is over the size limit", has_body),
        "404": ("NotFound: no such resource (or a path no resource can have)", "{" in path),
        "401": ("Unauthorized: the caller's credentials are missing or wrong", requires_auth),
    }
    for status, (description, applies) in general.items():
        if applies and status not in responses:
            responses[status] = _error(description)
