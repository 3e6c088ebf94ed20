"""The gateway's /openapi.json is the whole public API: every public route of every service and of the
gateway, typed, with the key, and nothing internal. A route added to a service without reaching the document
fails here, as does one whose answer is an untyped JSON object."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from gateway.openapi.merge import INTERNAL_PREFIXES, ServiceDocument, merge
from tests.support.platform import Platform
from tests.support.routes import app_routes
from tests.support.whole import full_platform, module_postgres_url

__all__ = ["full_platform", "module_postgres_url"]

METHODS = ("get", "put", "post", "delete", "patch")
NOT_API = ("/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc")


@pytest.fixture(scope="module")
def document(full_platform: Platform) -> dict[str, Any]:
    answer = httpx.get(f"{full_platform.gateway_url}/openapi.json", timeout=30)  # no key: the document is public
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def public_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every API route the app answers that a client may call: not internal, not health,
    not the console's pages (they are HTML for a browser, outside /v1)."""
    return {
        (route.method.lower(), route.path)
        for route in app_routes(app)
        if route.path.startswith("/v1/")
        and not route.path.startswith(INTERNAL_PREFIXES)
        and route.path not in NOT_API
        and route.method.lower() in METHODS
    }


def operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method, path): item[method] for path, item in document["paths"].items() for method in METHODS if method in item
    }


def test_every_public_route_of_every_service_is_in_the_gateways_document(
    full_platform: Platform, document: dict[str, Any]
) -> None:
    documented = set(operations(document))
    for name, app in full_platform.apps.items():
        routes = public_routes(app)
        assert len(routes) >= 5, name  # the walk finds the routes (a router's shape changed: it must still)
        missing = routes - documented
        assert not missing, f"{name}'s routes missing from the public document: {sorted(missing)}"
    assert document["openapi"].startswith("3.1")
    assert len(documented) >= 59
    for path in document["paths"]:
        assert not path.startswith(INTERNAL_PREFIXES), path
        assert not path.startswith("/v1/internal"), path


def test_every_operation_is_typed_and_documents_the_gateways_errors(document: dict[str, Any]) -> None:
    assert document["components"]["securitySchemes"]["ApiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": document["components"]["securitySchemes"]["ApiKey"]["description"],
    }
    assert document["security"] == [{"ApiKey": []}]
    schemas = document["components"]["schemas"]
    for (method, path), operation in operations(document).items():
        label = f"{method.upper()} {path}"
        responses = operation["responses"]
        successes = [status for status in responses if status.startswith("2")]
        assert successes, label
        for status in successes:
            content = responses[status].get("content", {})
            if status == "204":
                continue
            assert content, f"{label} {status}: no content type"
            json_schema = content.get("application/json", {}).get("schema")
            if json_schema is not None:
                # A typed answer: a schema of ours by reference, never a bare object.
                refs = re.findall(r"#/components/schemas/([A-Za-z0-9_.-]+)", repr(json_schema))
                assert refs, f"{label} {status} answers an untyped {json_schema}"
                assert all(ref in schemas for ref in refs), label
        for status in ("401", "403", "429"):
            assert responses[status]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/ErrorBody"
            }, label
        assert "Retry-After" in responses["429"]["headers"], label
        if method == "post":
            names = [parameter["name"] for parameter in operation.get("parameters", [])]
            assert "Idempotency-Key" in names, label
        if path.startswith("/v1/datasets"):
            assert {"502", "503", "504"} <= set(responses), label  # the service behind may be down
    lists = ["/v1/datasets", "/v1/snapshots", "/v1/models", "/v1/deployments", "/v1/keys", "/v1/batch-predictions"]
    for path in lists:
        parameters = {parameter["name"] for parameter in document["paths"][path]["get"]["parameters"]}
        assert {"limit", "after"} <= parameters, path


def test_the_docs_page_works_offline(full_platform: Platform) -> None:
    page = httpx.get(f"{full_platform.gateway_url}/docs")
    assert page.status_code == 200
    assets = re.findall(r'(?:href|src)="([^"]+)"', page.text)
    assert assets and all(asset.startswith("/docs/static/") for asset in assets), assets
    for asset in assets:
        assert httpx.get(f"{full_platform.gateway_url}{asset}").status_code == 200, asset
    assert "https://" not in page.text


def test_a_service_that_cannot_be_read_makes_the_document_unavailable_not_shorter(full_platform: Platform) -> None:
    from gateway.app import create_app
    from gateway.settings import GatewaySettings
    from tests.support.servers import running_server

    settings: GatewaySettings = full_platform.apps["gateway"].state.settings
    broken = settings.model_copy(update={"inference_url": "http://127.0.0.1:9"})
    with running_server(create_app(broken)) as url:
        answer = httpx.get(f"{url}/openapi.json", timeout=30)
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"] == "ServiceUnavailable"


def test_merging_qualifies_a_schema_two_services_define_differently() -> None:
    own = {"openapi": "3.1.0", "paths": {}, "components": {"schemas": {"Thing": {"type": "string"}}}}
    theirs = {
        "paths": {
            "/v1/things": {
                "get": {
                    "responses": {
                        "200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}}
                    }
                }
            },
            "/internal/things": {"get": {"responses": {}}},
            "/v1/others": {"get": {"responses": {}}},
        },
        "components": {"schemas": {"Thing": {"type": "integer"}}},
    }
    merged = merge(own, [ServiceDocument("thing-svc", ("/v1/things",), theirs)])
    assert set(merged["paths"]) == {"/v1/things"}  # internal and unrouted paths stay out
    assert merged["components"]["schemas"]["Thing"] == {"type": "string"}
    assert merged["components"]["schemas"]["thing_svc__Thing"] == {"type": "integer"}
    schema = merged["paths"]["/v1/things"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/thing_svc__Thing"}


def _validator(document: dict[str, Any], schema: dict[str, Any]) -> Any:
    from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

    return Draft202012Validator({**schema, "components": document["components"]})


def _request_fields(document: dict[str, Any], schema: dict[str, Any], where: str, seen: set[str]) -> list[str]:
    """Every field a request body can hold, recursively: ``where.field`` for those without a description."""
    missing: list[str] = []
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name not in seen:
            seen.add(name)
            missing += _request_fields(document, document["components"]["schemas"][name], name, seen)
        return missing
    for key in ("anyOf", "oneOf", "allOf"):
        for option in schema.get(key, []):
            missing += _request_fields(document, option, where, seen)
    if "items" in schema:
        missing += _request_fields(document, schema["items"], where, seen)
    for name, field in schema.get("properties", {}).items():
        if not field.get("description"):
            missing.append(f"{where}.{name}")
        missing += _request_fields(document, field, f"{where}.{name}", seen)
    return missing


def test_every_operation_has_a_description_examples_and_described_request_fields(document: dict[str, Any]) -> None:
    """A reader of /docs sees what each call does, every field of what it sends explained, and an example of
    the request and of each answer; each example is valid against its schema, and a request example against
    the platform's own contract (its cross-field rules included)."""
    import automl_proto
    from automl_proto import datasets, inference, models, openai, orgs, snapshots

    contracts = {
        name: getattr(module, name)
        for module in (datasets, inference, models, openai, orgs, snapshots)
        for name in dir(module)
        if isinstance(getattr(module, name), type)
    }
    assert automl_proto
    undescribed, no_example, invalid, fields = [], [], [], []
    for (method, path), operation in operations(document).items():
        where = f"{method.upper()} {path}"
        if not (operation.get("description") or "").strip():
            undescribed.append(where)
        for parameter in operation.get("parameters", []):
            if not (parameter.get("description") or parameter.get("schema", {}).get("description")):
                fields.append(f"{where} ?{parameter['name']}")
        for media_type, media in operation.get("requestBody", {}).get("content", {}).items():
            if "example" not in media:
                no_example.append(f"{where} request {media_type}")
                continue
            schema = media.get("schema", {})
            fields += [f"{where}: {name}" for name in _request_fields(document, schema, "body", set())]
            if media_type == "application/json":
                problems = [error.message for error in _validator(document, schema).iter_errors(media["example"])]
                name = schema.get("$ref", "").rsplit("/", 1)[-1]
                if name in contracts:
                    try:
                        contracts[name].model_validate(media["example"])
                    except ValueError as error:
                        problems.append(str(error))
                invalid += [f"{where} request: {problem}" for problem in problems]
        for status, response in operation.get("responses", {}).items():
            for media_type, media in response.get("content", {}).items():
                if "example" not in media:
                    no_example.append(f"{where} {status} {media_type}")
                elif media_type == "application/json" and status.startswith("2"):
                    schema = media.get("schema", {})
                    problems = [error.message for error in _validator(document, schema).iter_errors(media["example"])]
                    invalid += [f"{where} {status}: {problem}" for problem in problems]
    assert len(operations(document)) >= 60
    assert undescribed == [], undescribed
    assert no_example == [], no_example
    assert fields == [], fields
    assert invalid == [], invalid


def test_batch_predictions_are_tagged_as_such(document: dict[str, Any]) -> None:
    for (_, path), operation in operations(document).items():
        if path.startswith("/v1/batch-predictions"):
            assert operation["tags"] == ["batch predictions"], (path, operation["tags"])
