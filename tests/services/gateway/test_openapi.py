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
