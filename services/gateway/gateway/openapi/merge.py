"""The public API as one OpenAPI document: the gateway's own operations plus every service's public ones, as
the services document them, with what the gateway adds to every call (the key, rate limits, idempotent
creates, the services behind it being unreachable).

Merging is pure: it takes the documents and gives one back. A service's route is public when the gateway
routes its prefix to that service; ``/internal/...`` and ``/jobs/...`` never are, whatever a document says.
Schemas of the same name and shape are shared (most come from ``automl_proto``); a name two services use for
different shapes is qualified with the service's name, and every reference to it follows."""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gateway.openapi.examples import add_examples

METHODS = ("get", "put", "post", "delete", "patch")
INTERNAL_PREFIXES = ("/internal/", "/jobs/")
_REF = "#/components/schemas/"
_ERROR_REF = {"$ref": _REF + "ErrorBody"}
_RETRY_AFTER = {
    "Retry-After": {"description": "seconds to wait before trying again", "schema": {"type": "integer", "minimum": 0}}
}
IDEMPOTENCY_PARAMETER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "makes the create safe to retry: its retries within 24 h get the first answer back",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
}
SECURITY_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "description": "an API key (`aml_...`): the org's admin key, a key scoped to one deployment, or the operator key",
}
# What the gateway itself may answer on any operation, before or instead of the service.
GATEWAY_ERRORS = {
    "401": "Unauthorized: the API key is missing, malformed, unknown or revoked",
    "403": "Forbidden: the key may not call this (a deployment-scoped key outside its deployment)",
    "429": "RateLimited: too many requests for this key or org; see Retry-After",
}
UPSTREAM_ERRORS = {
    "502": "BadGateway: the service behind the gateway gave no usable answer",
    "503": "ServiceUnavailable: the service behind the gateway is not reachable now; see Retry-After",
    "504": "GatewayTimeout: the service behind the gateway did not answer in time",
}
IDEMPOTENCY_ERRORS = {
    "409": "Conflict: a request with this Idempotency-Key is still running (IdempotencyKeyInProgress)",
    "422": "InvalidRequest: this Idempotency-Key was used for another request (IdempotencyKeyReused)",
}


@dataclass(frozen=True)
class ServiceDocument:
    service: str  # its name, e.g. dataset-svc
    prefixes: tuple[str, ...]  # the path prefixes the gateway routes to it
    document: dict[str, Any]


def is_internal(path: str) -> bool:
    return path.startswith(INTERNAL_PREFIXES)


def routed(path: str, prefixes: Sequence[str]) -> bool:
    return any(path == prefix or path.startswith(prefix + "/") for prefix in prefixes)


def merge(
    own: dict[str, Any],
    services: Sequence[ServiceDocument],
    answered_locally: Sequence[tuple[str, re.Pattern[str]]] = (),
) -> dict[str, Any]:
    """``own`` is the gateway's document; ``answered_locally`` the (method, path pattern) pairs the gateway
    answers itself although a service has a route there too (its own operation is the public one)."""
    merged = copy.deepcopy(own)
    paths: dict[str, Any] = merged.setdefault("paths", {})
    schemas: dict[str, Any] = merged.setdefault("components", {}).setdefault("schemas", {})
    proxied: set[tuple[str, str]] = set()
    for service in services:
        renames = _place_schemas(schemas, service)
        for path, item in service.document.get("paths", {}).items():
            if is_internal(path) or not routed(path, service.prefixes):
                continue
            target = paths.setdefault(path, {})
            for method in METHODS:
                operation = item.get(method)
                if operation is None or method in target:
                    continue
                if any(method.upper() == verb and pattern.match(path) for verb, pattern in answered_locally):
                    continue
                target[method] = _renamed(copy.deepcopy(operation), renames)
                proxied.add((method, path))
    for path in [path for path in paths if is_internal(path)]:
        del paths[path]
    merged.setdefault("components", {}).setdefault("securitySchemes", {})["ApiKey"] = SECURITY_SCHEME
    merged["security"] = [{"ApiKey": []}]
    for path, item in paths.items():
        for method in METHODS:
            if method in item:
                _document_gateway(item[method], method, (method, path) in proxied)
    add_examples(merged)
    return merged


def _place_schemas(schemas: dict[str, Any], service: ServiceDocument) -> dict[str, str]:
    """Adds the service's schemas to ``schemas``; returns the names it had to qualify."""
    theirs: dict[str, Any] = service.document.get("components", {}).get("schemas", {})
    qualifier = re.sub(r"[^A-Za-z0-9]+", "_", service.service)
    renames = {name: f"{qualifier}__{name}" for name, shape in theirs.items() if schemas.get(name, shape) != shape}
    for name, shape in theirs.items():
        schemas.setdefault(renames.get(name, name), _renamed(copy.deepcopy(shape), renames))
    return renames


def _renamed(node: Any, renames: dict[str, str]) -> Any:
    if not renames:
        return node
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(_REF) and ref[len(_REF) :] in renames:
            node["$ref"] = _REF + renames[ref[len(_REF) :]]
        for value in node.values():
            _renamed(value, renames)
    elif isinstance(node, list):
        for value in node:
            _renamed(value, renames)
    return node


def _error(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description, "content": {"application/json": {"schema": _ERROR_REF}}}
    if headers:
        response["headers"] = headers
    return response


def _document_gateway(operation: dict[str, Any], method: str, proxied: bool) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    errors = dict(GATEWAY_ERRORS) | (UPSTREAM_ERRORS if proxied else {})
    if method == "post":
        errors |= IDEMPOTENCY_ERRORS
        parameters: list[dict[str, Any]] = operation.setdefault("parameters", [])
        if not any(parameter.get("name", "").lower() == "idempotency-key" for parameter in parameters):
            parameters.append(dict(IDEMPOTENCY_PARAMETER))
    for status, description in errors.items():
        headers = _RETRY_AFTER if status in ("429", "503") else None
        if status not in responses:
            responses[status] = _error(description, headers)
        elif headers:
            responses[status].setdefault("headers", headers)
