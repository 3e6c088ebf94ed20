"""A key cannot outlive the key that made it; an org cannot revoke its last admin key and lock itself out; and
the operator can give an org that lost its keys a new admin key."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tests.support.api import OPERATOR_KEY, bearer, create_org


def expiry(body: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(body["expires_at"])


async def test_a_key_cannot_outlive_the_key_that_made_it(gateway_factory: Any, database_url: str) -> None:
    gateway = await gateway_factory(database_url)
    admin_key = (await create_org(gateway))["admin_key"]
    hour = await gateway.post("/v1/keys", json={"name": "hour", "expires_in_s": 3600}, headers=bearer(admin_key))
    assert hour.status_code == 201, hour.text
    short = hour.json()
    # The finding: a key made by an expiring key never expired, and outlived its parent.
    child = await gateway.post("/v1/keys", json={"name": "child"}, headers=bearer(short["key"]))
    assert child.status_code == 201, child.text
    assert child.json()["expires_at"] is not None
    assert expiry(child.json()) <= expiry(short)
    longer = await gateway.post("/v1/keys", json={"name": "longer", "expires_in_s": 7200}, headers=bearer(short["key"]))
    assert longer.status_code == 422, longer.text
    assert longer.json()["error"] == "KeyOutlivesItsMaker"
    assert "expires_in_s" in longer.json()["detail"] and "outlive" in longer.json()["detail"]
    shorter = await gateway.post(
        "/v1/keys", json={"name": "shorter", "expires_in_s": 600}, headers=bearer(short["key"])
    )
    assert shorter.status_code == 201
    assert expiry(shorter.json()) < expiry(short) - timedelta(minutes=45)
    # A key that never expires makes keys that never expire, as asked.
    forever = await gateway.post("/v1/keys", json={"name": "forever"}, headers=bearer(admin_key))
    assert forever.json()["expires_at"] is None


async def test_the_last_admin_key_cannot_be_revoked(gateway_factory: Any, database_url: str) -> None:
    gateway = await gateway_factory(database_url)
    admin = (await create_org(gateway))["admin_key"]
    me = next(
        key for key in (await gateway.get("/v1/keys", headers=bearer(admin))).json()["items"] if key["scope"] == "admin"
    )
    refused = await gateway.delete(f"/v1/keys/{me['id']}", headers=bearer(admin))
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"] == "LastAdminKey"
    assert (await gateway.get("/v1/orgs/me", headers=bearer(admin))).status_code == 200  # still works
    # With a second admin key, the first can go.
    second = (await gateway.post("/v1/keys", json={"name": "second"}, headers=bearer(admin))).json()
    assert (await gateway.delete(f"/v1/keys/{me['id']}", headers=bearer(second["key"]))).status_code == 200
    # An expiring admin key does not count as the one that keeps the org open.
    soon = (
        await gateway.post("/v1/keys", json={"name": "soon", "expires_in_s": 600}, headers=bearer(second["key"]))
    ).json()
    last = await gateway.delete(f"/v1/keys/{second['id']}", headers=bearer(soon["key"]))
    assert last.status_code == 409, last.text


async def test_the_operator_gives_an_org_a_new_admin_key(gateway_factory: Any, database_url: str) -> None:
    gateway = await gateway_factory(database_url)
    org = await create_org(gateway)
    operator = bearer(OPERATOR_KEY)
    rescued = await gateway.post(f"/v1/orgs/{org['id']}/keys", json={"name": "rescue"}, headers=operator)
    assert rescued.status_code == 201, rescued.text
    body = rescued.json()
    assert body["scope"] == "admin"
    assert (await gateway.get("/v1/orgs/me", headers=bearer(body["key"]))).json()["id"] == org["id"]
    # Only the operator: an org's own admin key cannot mint keys for another org this way.
    other = await create_org(gateway, "other")
    refused = await gateway.post(f"/v1/orgs/{other['id']}/keys", json={"name": "x"}, headers=bearer(org["admin_key"]))
    assert refused.status_code == 401
    missing = await gateway.post("/v1/orgs/org_00000000000000000000000000/keys", json={"name": "x"}, headers=operator)
    assert missing.status_code == 404
