from __future__ import annotations

from tests.support.api import OPERATOR_KEY, bearer, create_org


async def test_operator_creates_org_with_admin_key(gateway_factory, database_url):
    client = await gateway_factory(database_url)
    created = await create_org(client, "acme")
    assert created["id"].startswith("org_")
    assert created["admin_key"].startswith("aml_")

    me = await client.get("/v1/orgs/me", headers=bearer(created["admin_key"]))
    assert me.status_code == 200
    assert me.json() == {"id": created["id"], "name": "acme", "created_at": created["created_at"]}


async def test_org_creation_needs_the_operator_key(gateway_factory, database_url):
    client = await gateway_factory(database_url)
    admin_key = (await create_org(client, "acme"))["admin_key"]
    for headers in ({}, bearer("not-the-operator-key"), bearer(admin_key)):
        response = await client.post("/v1/orgs", json={"name": "other"}, headers=headers)
        assert response.status_code == 401
        assert response.json()["error"] == "Unauthorized"


async def test_duplicate_org_name_is_a_conflict(gateway_factory, database_url):
    client = await gateway_factory(database_url)
    await create_org(client, "acme")
    response = await client.post("/v1/orgs", json={"name": "acme"}, headers=bearer(OPERATOR_KEY))
    assert response.status_code == 409
    assert response.json()["error"] == "OrgNameTaken"
    assert "acme" in response.json()["detail"]


async def test_org_name_is_validated(gateway_factory, database_url):
    client = await gateway_factory(database_url)
    for body in ({}, {"name": ""}, {"name": "x" * 101}, {"name": "../etc"}, {"name": 5}):
        response = await client.post("/v1/orgs", json=body, headers=bearer(OPERATOR_KEY))
        assert response.status_code == 422, body
        assert response.json()["error"] == "InvalidRequest"
        assert "body" in response.json()["detail"]


async def test_operator_lists_orgs_in_pages(gateway_factory, database_url):
    client = await gateway_factory(database_url)
    for index in range(5):
        await create_org(client, f"org{index}")
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"after": cursor} if cursor else {})
        page = (await client.get("/v1/orgs", params=params, headers=bearer(OPERATOR_KEY))).json()
        seen.extend(org["name"] for org in page["items"])
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == [f"org{index}" for index in range(5)]
