from __future__ import annotations

import asyncio

from tests.support.api import bearer, create_org
from tests.support.echo import deployments_stand_in
from tests.support.servers import running_server


async def test_key_is_shown_once_and_listed_without_secret(gateway_factory, database_url):
    client = await gateway_factory(database_url)
    admin_key = (await create_org(client))["admin_key"]
    created = await client.post("/v1/keys", json={"name": "ci"}, headers=bearer(admin_key))
    assert created.status_code == 201
    body = created.json()
    assert body["key"].startswith(body["prefix"] + "_")
    assert body["scope"] == "admin"

    listed = (await client.get("/v1/keys", headers=bearer(admin_key))).json()
    assert [item["name"] for item in listed["items"]] == ["admin", "ci"]
    text = str(listed)
    assert body["key"] not in text and admin_key not in text
    assert all("key" not in item and "key_hash" not in item for item in listed["items"])

    fetched = await client.get(f"/v1/keys/{body['id']}", headers=bearer(admin_key))
    assert fetched.status_code == 200 and "key" not in fetched.json()
    # The new key works.
    assert (await client.get("/v1/orgs/me", headers=bearer(body["key"]))).status_code == 200


async def test_key_is_stored_hashed(gateway_factory, database_url):
    client = await gateway_factory(database_url)
    admin_key = (await create_org(client))["admin_key"]
    from sqlalchemy import text

    database = client.app.state.database
    async with database.engine.connect() as connection:
        rows = (await connection.execute(text("SELECT lookup, key_hash FROM api_keys"))).all()
    assert len(rows) == 1
    lookup, key_hash = rows[0]
    assert admin_key not in (lookup, key_hash)
    secret = admin_key[len("aml_") + 16 + 1 :]  # the secret may itself contain '_'
    assert len(secret) == 43
    assert secret not in key_hash
    assert secret not in lookup
    import hashlib

    assert key_hash == hashlib.sha256(admin_key.encode()).hexdigest()


async def test_no_wrong_or_malformed_key_is_401(gateway_factory, database_url):
    client = await gateway_factory(database_url)
    admin_key = (await create_org(client))["admin_key"]
    wrong_secret = admin_key[:-4] + ("AAAA" if not admin_key.endswith("AAAA") else "BBBB")
    cases = {
        "no header": {},
        "empty": {"Authorization": ""},
        "basic scheme": {"Authorization": "Basic dXNlcjpwYXNz"},
        "bearer without key": {"Authorization": "Bearer"},
        "two tokens": {"Authorization": f"Bearer {admin_key} extra"},
        "unknown key": bearer("aml_0123456789abcdef_" + "x" * 43),
        "garbage": bearer("not-a-key"),
        "right lookup, wrong secret": bearer(wrong_secret),
    }
    for case, headers in cases.items():
        response = await client.get("/v1/orgs/me", headers=headers)
        assert response.status_code == 401, case
        body = response.json()
        assert body["error"] == "Unauthorized", case
        assert body["detail"] and body["request_id"], case


async def test_token_scheme_is_accepted(gateway_factory, database_url):
    client = await gateway_factory(database_url)
    admin_key = (await create_org(client))["admin_key"]
    response = await client.get("/v1/orgs/me", headers={"Authorization": f"Token {admin_key}"})
    assert response.status_code == 200


async def test_revoked_key_is_401_at_once_on_this_replica(gateway_factory, database_url):
    client = await gateway_factory(database_url, key_cache_ttl_s=30)
    admin_key = (await create_org(client))["admin_key"]
    other = (await client.post("/v1/keys", json={"name": "temp"}, headers=bearer(admin_key))).json()
    assert (await client.get("/v1/orgs/me", headers=bearer(other["key"]))).status_code == 200  # now cached

    revoked = await client.delete(f"/v1/keys/{other['id']}", headers=bearer(admin_key))
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    response = await client.get("/v1/orgs/me", headers=bearer(other["key"]))
    assert response.status_code == 401
    assert "revoked" in response.json()["detail"]
    # Revoking again is harmless.
    assert (await client.delete(f"/v1/keys/{other['id']}", headers=bearer(admin_key))).status_code == 200


async def test_revocation_reaches_another_replica_within_the_cache_ttl(gateway_factory, database_url):
    replica_a = await gateway_factory(database_url, key_cache_ttl_s=0.5)
    replica_b = await gateway_factory(database_url, key_cache_ttl_s=0.5)
    admin_key = (await create_org(replica_a))["admin_key"]
    other = (await replica_a.post("/v1/keys", json={"name": "temp"}, headers=bearer(admin_key))).json()
    assert (await replica_b.get("/v1/orgs/me", headers=bearer(other["key"]))).status_code == 200

    await replica_a.delete(f"/v1/keys/{other['id']}", headers=bearer(admin_key))
    await asyncio.sleep(0.6)
    assert (await replica_b.get("/v1/orgs/me", headers=bearer(other["key"]))).status_code == 401


async def test_org_b_never_sees_org_a_keys(gateway_factory, database_url):
    client = await gateway_factory(database_url)
    key_a = (await create_org(client, "org-a"))["admin_key"]
    key_b = (await create_org(client, "org-b"))["admin_key"]
    a_key = (await client.post("/v1/keys", json={"name": "a-secret"}, headers=bearer(key_a))).json()

    listed_b = (await client.get("/v1/keys", headers=bearer(key_b))).json()
    assert [item["name"] for item in listed_b["items"]] == ["admin"]
    assert (await client.get(f"/v1/keys/{a_key['id']}", headers=bearer(key_b))).status_code == 404
    revoke = await client.delete(f"/v1/keys/{a_key['id']}", headers=bearer(key_b))
    assert revoke.status_code == 404
    assert revoke.json()["error"] == "KeyNotFound"
    # Org A's key is untouched by B's attempt.
    assert (await client.get("/v1/orgs/me", headers=bearer(a_key["key"]))).status_code == 200


async def test_deployment_scoped_key_cannot_manage_keys(gateway_factory, database_url):
    with running_server(deployments_stand_in()) as inference_url:
        client = await gateway_factory(database_url, inference_url=inference_url)
        admin_key = (await create_org(client))["admin_key"]
        scoped = await client.post(
            "/v1/keys",
            json={"name": "dep", "scope": "deployment", "deployment_id": "dep_00000000000000000000000123"},
            headers=bearer(admin_key),
        )
        unknown = await client.post(
            "/v1/keys",
            json={"name": "dep", "scope": "deployment", "deployment_id": "dep_00000000000000000000000999"},
            headers=bearer(admin_key),
        )
    assert unknown.status_code == 422
    assert "deployment_id" in unknown.json()["detail"]
    assert scoped.status_code == 201
    scoped_key = scoped.json()["key"]
    assert (await client.get("/v1/keys", headers=bearer(scoped_key))).status_code == 403
    assert (await client.post("/v1/keys", json={"name": "x"}, headers=bearer(scoped_key))).status_code == 403
    assert (await client.get("/v1/orgs/me", headers=bearer(scoped_key))).status_code == 200


async def test_key_create_validation(gateway_factory, database_url):
    client = await gateway_factory(database_url)
    admin_key = (await create_org(client))["admin_key"]
    bad_bodies = [
        {},
        {"name": ""},
        {"name": "x", "scope": "root"},
        {"name": "x", "scope": "deployment"},
        {"name": "x", "scope": "admin", "deployment_id": "dep_00000000000000000000000001"},
        {"name": "x", "unexpected": 1},
    ]
    for body in bad_bodies:
        response = await client.post("/v1/keys", json=body, headers=bearer(admin_key))
        assert response.status_code == 422, body
        assert response.json()["error"] == "InvalidRequest"


async def test_concurrent_requests_with_an_uncached_key_share_one_lookup(gateway_factory, database_url):
    import asyncio

    client = await gateway_factory(database_url)
    admin_key = (await create_org(client))["admin_key"]
    authenticator = client.app.state.authenticator
    authenticator._cache.clear()
    calls = 0
    original = authenticator._look_up

    async def counting(*args):
        nonlocal calls
        calls += 1
        return await original(*args)

    authenticator._look_up = counting
    responses = await asyncio.gather(*(client.get("/v1/orgs/me", headers=bearer(admin_key)) for _ in range(20)))
    assert [response.status_code for response in responses] == [200] * 20
    assert calls == 1
