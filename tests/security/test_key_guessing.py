"""Guessing keys is throttled without locking anyone else out. Invalid keys are counted after the lookup that
found them invalid, per client address and key lookup (guessing one key's secret) and, more loosely, per
address (a flood of made-up keys); a key that worked lately is never held back for what others sent (the
gateways here cache no key, ``key_cache_ttl_s=0``: every request is looked up); behind a trusted proxy the
address is the client's (X-Forwarded-For), and from anyone else that header is ignored."""

from __future__ import annotations

import secrets
from typing import Any

import httpx

from tests.support.api import bearer, create_org


def made_up_key(lookup: str | None = None) -> str:
    return f"aml_{lookup or secrets.token_hex(8)}_{secrets.token_urlsafe(32)}"


def client_from(gateway: httpx.AsyncClient, address: str) -> httpx.AsyncClient:
    """Another connection to the same gateway, from ``address``."""
    transport = httpx.ASGITransport(app=gateway.app, client=(address, 40000))  # type: ignore[attr-defined]
    return httpx.AsyncClient(transport=transport, base_url="http://gateway")


async def statuses(client: httpx.AsyncClient, keys: list[str], **headers: str) -> list[int]:
    return [(await client.get("/v1/orgs/me", headers=bearer(key) | headers)).status_code for key in keys]


async def test_made_up_keys_from_an_address_do_not_lock_out_a_valid_key_from_it(
    gateway_factory: Any, database_url: str
) -> None:
    """The finding: 22 made-up keys from one address, then a valid key from it got 429. Behind an Ingress every
    tenant shares that address."""
    gateway = await gateway_factory(database_url, key_cache_ttl_s=0, auth_failure_burst=5, auth_failures_per_s=0.01)
    admin_key = (await create_org(gateway))["admin_key"]
    assert await statuses(gateway, [admin_key]) == [200]  # it works: no longer a guess
    refused = await statuses(gateway, [made_up_key() for _ in range(22)])
    assert set(refused) == {401}  # each a different made-up key: none of them guessed twice
    assert await statuses(gateway, [admin_key] * 3) == [200] * 3
    fresh = (await gateway.post("/v1/keys", json={"name": "fresh"}, headers=bearer(admin_key))).json()["key"]
    assert await statuses(gateway, [fresh]) == [200]  # never used before: looked up, and valid


async def test_guessing_one_keys_secret_is_throttled_per_address(gateway_factory: Any, database_url: str) -> None:
    gateway = await gateway_factory(database_url, key_cache_ttl_s=0, auth_failure_burst=5, auth_failures_per_s=0.01)
    admin_key = (await create_org(gateway))["admin_key"]
    assert await statuses(gateway, [admin_key]) == [200]  # in use
    lookup = admin_key.split("_")[1]
    guesses = await statuses(gateway, [made_up_key(lookup) for _ in range(8)])
    assert guesses == [401] * 5 + [429] * 3
    limited = await gateway.get("/v1/orgs/me", headers=bearer(made_up_key(lookup)))
    assert limited.json()["error"] == "RateLimited"
    assert int(limited.headers["retry-after"]) >= 1
    assert await statuses(gateway, [admin_key]) == [200]  # the real key is never refused for the guesses
    async with client_from(gateway, "198.51.100.7") as elsewhere:
        assert await statuses(elsewhere, [made_up_key(lookup)]) == [401]  # another address guesses on its own


async def test_a_flood_of_made_up_keys_is_throttled_for_its_address_alone(
    gateway_factory: Any, database_url: str
) -> None:
    gateway = await gateway_factory(
        database_url,
        key_cache_ttl_s=0,
        auth_address_failure_burst=10,
        auth_address_failures_per_s=0.01,
        auth_failure_burst=5,
    )
    admin_key = (await create_org(gateway))["admin_key"]
    assert await statuses(gateway, [admin_key]) == [200]
    flood = await statuses(gateway, [made_up_key() for _ in range(14)])
    assert flood == [401] * 10 + [429] * 4  # no more database lookups for this address's made-up keys
    assert await statuses(gateway, [admin_key]) == [200]  # a key that works still passes
    async with client_from(gateway, "198.51.100.8") as other:
        assert await statuses(other, [made_up_key(), admin_key]) == [401, 200]
    # The price: a valid key that has not worked yet waits, from the flooding address alone, with the guesses.
    second = (await gateway.post("/v1/keys", json={"name": "second"}, headers=bearer(admin_key))).json()
    assert await statuses(gateway, [second["key"]]) == [429]


async def test_behind_a_trusted_proxy_the_forwarded_client_is_held_to_the_limits(
    gateway_factory: Any, database_url: str
) -> None:
    gateway = await gateway_factory(
        database_url,
        key_cache_ttl_s=0,
        trusted_proxies=["10.0.0.0/8"],
        auth_address_failure_burst=3,
        auth_address_failures_per_s=0.01,
    )
    admin_key = (await create_org(gateway))["admin_key"]
    async with client_from(gateway, "10.1.2.3") as ingress:
        attacker = {"X-Forwarded-For": "203.0.113.9"}
        assert await statuses(ingress, [made_up_key() for _ in range(5)], **attacker) == [401] * 3 + [429] * 2
        # A spoofed hop left of the proxy's own does not help: the proxy appended the real address last.
        spoofed = {"X-Forwarded-For": "192.0.2.1, 203.0.113.9"}
        assert await statuses(ingress, [made_up_key()], **spoofed) == [429]
        # Every other client behind the same Ingress is its own address.
        assert await statuses(ingress, [made_up_key(), admin_key], **{"X-Forwarded-For": "203.0.113.10"}) == [401, 200]
    async with client_from(gateway, "198.51.100.9") as direct:
        # Not a trusted proxy: its X-Forwarded-For is ignored, so it cannot pose as a fresh address.
        flood = [await statuses(direct, [made_up_key()], **{"X-Forwarded-For": f"192.0.2.{n}"}) for n in range(5)]
        assert [status for (status,) in flood] == [401] * 3 + [429] * 2
