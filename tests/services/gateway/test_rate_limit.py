from __future__ import annotations

from gateway.ratelimit import TokenBucketLimiter
from tests.support.api import bearer, create_org


async def test_request_over_the_burst_gets_429_with_retry_after(gateway_factory, database_url):
    client = await gateway_factory(database_url, rate_limit_burst=5, rate_limit_per_s=0.1)
    admin_key = (await create_org(client))["admin_key"]
    statuses = [(await client.get("/v1/orgs/me", headers=bearer(admin_key))).status_code for _ in range(5)]
    assert statuses == [200] * 5
    limited = await client.get("/v1/orgs/me", headers=bearer(admin_key))
    assert limited.status_code == 429
    assert limited.json()["error"] == "RateLimited"
    assert 1 <= int(limited.headers["retry-after"]) <= 10


async def test_limits_are_per_key(gateway_factory, database_url):
    client = await gateway_factory(database_url, rate_limit_burst=2, rate_limit_per_s=0.1)
    admin_key = (await create_org(client))["admin_key"]
    other = (await client.post("/v1/keys", json={"name": "other"}, headers=bearer(admin_key))).json()["key"]
    for _ in range(2):
        await client.get("/v1/orgs/me", headers=bearer(admin_key))
    assert (await client.get("/v1/orgs/me", headers=bearer(admin_key))).status_code == 429
    assert (await client.get("/v1/orgs/me", headers=bearer(other))).status_code == 200


def test_bucket_refills_at_the_configured_rate():
    now = [0.0]
    limiter = TokenBucketLimiter(rate_per_s=2.0, burst=3, clock=lambda: now[0])
    assert [limiter.acquire("k") for _ in range(3)] == [None, None, None]
    wait = limiter.acquire("k")
    assert wait is not None and abs(wait - 0.5) < 1e-9
    now[0] = 0.5
    assert limiter.acquire("k") is None
    assert limiter.acquire("k") is not None
    now[0] = 100.0
    assert [limiter.acquire("k") for _ in range(3)] == [None, None, None]  # never above the burst
    assert limiter.acquire("k") is not None


def test_bucket_memory_is_bounded():
    now = [0.0]
    limiter = TokenBucketLimiter(rate_per_s=1.0, burst=1, clock=lambda: now[0], max_keys=10)
    for index in range(100):
        now[0] += 10
        limiter.acquire(f"key-{index}")
    assert len(limiter._buckets) <= 10
