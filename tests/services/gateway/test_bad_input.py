from __future__ import annotations

from tests.support.api import OPERATOR_KEY, bearer, create_org


def assert_error_shape(response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "detail", "request_id"}
    assert body["error"] == error
    assert body["detail"]
    assert body["request_id"] == response.headers["x-request-id"]


async def test_malformed_json_is_400(gateway_factory, database_url):
    client = await gateway_factory(database_url)
    admin_key = (await create_org(client))["admin_key"]
    response = await client.post(
        "/v1/keys", content=b'{"name": "x",', headers=bearer(admin_key) | {"Content-Type": "application/json"}
    )
    assert_error_shape(response, 400, "MalformedJSON")


async def test_wrong_types_name_the_field(gateway_factory, database_url):
    client = await gateway_factory(database_url)
    admin_key = (await create_org(client))["admin_key"]
    response = await client.post("/v1/keys", json={"name": ["not", "a", "string"]}, headers=bearer(admin_key))
    assert_error_shape(response, 422, "InvalidRequest")
    assert "body.name" in response.json()["detail"]
    bad_limit = await client.get("/v1/keys", params={"limit": "many"}, headers=bearer(admin_key))
    assert_error_shape(bad_limit, 422, "InvalidRequest")
    assert "query.limit" in bad_limit.json()["detail"]
    too_big = await client.get("/v1/keys", params={"limit": 501}, headers=bearer(admin_key))
    assert_error_shape(too_big, 422, "InvalidRequest")


async def test_unknown_route_and_method(gateway_factory, database_url):
    client = await gateway_factory(database_url)
    assert_error_shape(await client.get("/v1/nothing-here"), 404, "NotFound")
    assert_error_shape(await client.get("/nothing-here"), 404, "NotFound")
    console = await client.get("/")  # the console's root: to its first page
    assert console.status_code == 303 and console.headers["location"] == "/datasets"
    assert_error_shape(await client.put("/v1/orgs/me", headers=bearer(OPERATOR_KEY)), 405, "MethodNotAllowed")


async def test_oversized_and_lying_bodies(gateway_factory, database_url):
    client = await gateway_factory(database_url, max_body_bytes=2048)
    response = await client.post("/v1/orgs", content=b"{" + b" " * 4096 + b"}", headers=bearer(OPERATOR_KEY))
    assert_error_shape(response, 413, "PayloadTooLarge")
    bad_length = await client.post("/v1/orgs", content=b"{}", headers=bearer(OPERATOR_KEY) | {"Content-Length": "abc"})
    assert bad_length.status_code in (400, 413)


async def test_request_id_is_generated_when_missing_or_invalid(gateway_factory, database_url):
    client = await gateway_factory(database_url)
    generated = await client.get("/healthz")
    assert len(generated.headers["x-request-id"]) == 32
    invalid = await client.get("/healthz", headers={"X-Request-ID": "bad id with spaces\t"})
    assert invalid.headers["x-request-id"] != "bad id with spaces\t"
