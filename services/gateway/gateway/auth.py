"""Who is calling: the API key from ``Authorization``, looked up (with a short cache), scoped, rate limited."""

from __future__ import annotations

import asyncio
import hmac
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import State

from automl_common.context import org_id_var
from automl_common.db import Database, utcnow
from automl_common.errors import Forbidden, RateLimited, Unauthorized
from gateway.clients import UNKNOWN, client_address
from gateway.keys.repository import KeyRepository
from gateway.keys.tokens import hash_key, parse_lookup
from gateway.ratelimit import TokenBucketLimiter, retry_after_header

_SCHEMES = ("bearer", "token")
_MAX_CACHE_ENTRIES = 100_000
# How long a key that worked is exempt from the guessing guard (it is still looked up every time).
RECENTLY_VALID_S = 3600.0


@dataclass(frozen=True)
class Principal:
    org_id: str
    key_id: str
    scope: str
    deployment_id: str | None
    expires_at: datetime | None = None  # the key's own: a key it makes may not outlive it


@dataclass(frozen=True)
class _CacheEntry:
    principal: Principal | None
    reason: str
    expires: float


def credentials_from_header(value: str | None) -> str:
    """The key from ``Authorization: Bearer <key>`` (or ``Token <key>``)."""
    if not value:
        raise Unauthorized("missing Authorization header; send 'Authorization: Bearer <key>'")
    scheme, _, credentials = value.strip().partition(" ")
    credentials = credentials.strip()
    if scheme.lower() not in _SCHEMES or not credentials or " " in credentials:
        raise Unauthorized("malformed Authorization header; expected 'Bearer <key>' or 'Token <key>'")
    return credentials


class Authenticator:
    """Resolves keys to principals. A cached answer is trusted for ``ttl_s``: revocation on another replica
    takes effect within that time, and at once on the replica that revoked it."""

    def __init__(self, database: Database, ttl_s: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.database = database
        self.ttl_s = ttl_s
        self.clock = clock
        self._cache: dict[str, _CacheEntry] = {}
        # Keys revoked through this replica, refused even if a lookup raced the revoking transaction.
        self._revoked_here: dict[str, float] = {}
        self._in_flight: dict[str, asyncio.Future[_CacheEntry]] = {}
        self._valid_recently: OrderedDict[str, tuple[str, float]] = OrderedDict()  # digest -> (key id, until)

    def recently_valid(self, key: str) -> bool:
        """Whether this replica found ``key`` valid within ``RECENTLY_VALID_S``: such a key is still looked
        up (revocation and expiry apply as ever) but never held back by others' invalid keys."""
        seen = self._valid_recently.get(hash_key(key))
        return seen is not None and seen[1] > self.clock()

    async def authenticate(self, key: str) -> Principal:
        digest = hash_key(key)
        now = self.clock()
        entry = self._cache.get(digest)
        if entry is None or entry.expires <= now:
            entry = await self._look_up_once(key, digest, now)
        if entry.principal is None:
            raise Unauthorized(entry.reason)
        if self._revoked_here and entry.principal.key_id in self._revoked_here:
            raise Unauthorized("API key has been revoked")
        self._valid_recently[digest] = (entry.principal.key_id, now + RECENTLY_VALID_S)
        self._valid_recently.move_to_end(digest)
        if len(self._valid_recently) > _MAX_CACHE_ENTRIES:
            self._valid_recently.popitem(last=False)
        return entry.principal

    async def _look_up_once(self, key: str, digest: str, now: float) -> _CacheEntry:
        """Concurrent requests with the same uncached key share one database lookup."""
        pending = self._in_flight.get(digest)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[_CacheEntry] = asyncio.get_running_loop().create_future()
        self._in_flight[digest] = future
        try:
            entry = await self._look_up(key, digest, now)
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # retrieved here, so an unawaited failure is not reported twice
            raise
        else:
            future.set_result(entry)
            return entry
        finally:
            del self._in_flight[digest]

    async def _look_up(self, key: str, digest: str, now: float) -> _CacheEntry:
        lookup = parse_lookup(key)
        principal: Principal | None = None
        reason = "invalid API key"
        if lookup is not None:
            async with self.database.sessionmaker() as session:
                row = await KeyRepository(session).get_by_lookup(lookup)
            if row is not None and hmac.compare_digest(row.key_hash, digest):
                if row.revoked_at is not None:
                    reason = "API key has been revoked"
                elif row.expires_at is not None and row.expires_at <= utcnow():
                    reason = "API key has expired"
                else:
                    principal = Principal(row.org_id, row.id, row.scope, row.deployment_id, row.expires_at)
                    if row.expires_at is not None:  # trusted from the cache no longer than it lives
                        left = (row.expires_at - utcnow()).total_seconds()
                        return self._remember(digest, _CacheEntry(principal, reason, now + min(self.ttl_s, left)))
        entry = _CacheEntry(principal, reason, now + self.ttl_s)
        if principal is None:
            # Refusals are not cached: a flood of made-up keys must not push the valid ones out of the cache
            # (``KeyGuessingGuard`` throttles them instead).
            return entry
        return self._remember(digest, entry)

    def _remember(self, digest: str, entry: _CacheEntry) -> _CacheEntry:
        now = self.clock()
        if self.ttl_s > 0:
            if len(self._cache) >= _MAX_CACHE_ENTRIES:
                self._cache = {k: v for k, v in self._cache.items() if v.expires > now}
                if len(self._cache) >= _MAX_CACHE_ENTRIES:
                    self._cache.clear()
            self._cache[digest] = entry
        return entry

    def forget_key(self, key_id: str) -> None:
        now = self.clock()
        self._revoked_here = {k: t for k, t in self._revoked_here.items() if t > now}
        # Long enough for the revoking transaction to commit and any racing cache entry to expire.
        self._revoked_here[key_id] = now + max(self.ttl_s, 1.0) * 2 + 30.0
        self._cache = {
            digest: entry
            for digest, entry in self._cache.items()
            if entry.principal is None or entry.principal.key_id != key_id
        }
        for digest in [digest for digest, (owner, _) in self._valid_recently.items() if owner == key_id]:
            del self._valid_recently[digest]


class KeyGuessingGuard:
    """Invalid keys, counted once a lookup has found them invalid: per client address and key lookup (someone
    guessing one key's secret) and, far more loosely, per address (a flood of made-up keys, each a database
    lookup). It is asked before a key is looked up, but not for a key that worked lately
    (``Authenticator.recently_valid``): what one client sends does not lock out another's working key, even
    from the same address."""

    def __init__(self, per_lookup: TokenBucketLimiter, per_address: TokenBucketLimiter) -> None:
        self.per_lookup = per_lookup
        self.per_address = per_address

    def check(self, address: str, lookup: str) -> None:
        waits = [
            wait
            for wait in (self.per_lookup.wait_time(f"{address} {lookup}"), self.per_address.wait_time(address))
            if wait is not None
        ]
        if waits:
            raise RateLimited(
                "too many invalid API keys from this address; retry after the time in Retry-After",
                headers={"Retry-After": retry_after_header(max(waits))},
            )

    def failed(self, address: str, lookup: str) -> None:
        self.per_lookup.acquire(f"{address} {lookup}")
        self.per_address.acquire(address)


async def resolve_principal(state: State, authorization: str | None, client: str | None = None) -> Principal:
    """Authenticate the key in ``authorization`` and take one token from its rate limit. Keys not known to be
    valid pass ``KeyGuessingGuard`` first (``client``: the address ``gateway.clients`` resolved)."""
    authenticator: Authenticator = state.authenticator
    key = credentials_from_header(authorization)
    # A key that is not even well formed costs no lookup, and one that worked lately is no guess: neither is
    # counted or held back.
    lookup = None if authenticator.recently_valid(key) else parse_lookup(key)
    guard: KeyGuessingGuard = state.key_guessing_guard
    address = client or UNKNOWN
    if lookup is not None:
        guard.check(address, lookup)
    try:
        principal = await authenticator.authenticate(key)
    except Unauthorized:
        if lookup is not None:
            guard.failed(address, lookup)
        raise
    limiter: TokenBucketLimiter = state.rate_limiter
    wait = limiter.acquire(principal.key_id)
    if wait is not None:
        raise RateLimited(
            "rate limit exceeded for this API key; retry after the time in Retry-After",
            headers={"Retry-After": retry_after_header(wait)},
        )
    # And per org: more keys do not buy a tenant more of the platform.
    org_limiter: TokenBucketLimiter = state.org_rate_limiter
    wait = org_limiter.acquire(principal.org_id)
    if wait is not None:
        raise RateLimited(
            "rate limit exceeded for this org (all its keys together); retry after the time in Retry-After",
            headers={"Retry-After": retry_after_header(wait)},
        )
    org_id_var.set(principal.org_id)
    return principal


def check_scope(principal: Principal, method: str, path: str) -> None:
    """A deployment-scoped key may only call its own deployment: predict, and an llm's (chat) completions."""
    if principal.scope == "admin":
        return
    if (
        principal.scope == "deployment"
        and method == "POST"
        and path
        in {
            f"/v1/deployments/{principal.deployment_id}/{call}"
            for call in ("predict", "chat/completions", "completions")
        }
    ):
        return
    raise Forbidden("this key is scoped to one deployment's predict endpoint")


async def _principal(request: Request) -> Principal:
    client = client_address(request.scope, request.app.state.trusted_networks)
    return await resolve_principal(request.app.state, request.headers.get("authorization"), client)


async def _admin(principal: Annotated[Principal, Depends(_principal)]) -> Principal:
    if principal.scope != "admin":
        raise Forbidden("this key's scope does not allow this call; an admin key is required")
    return principal


async def _operator(request: Request) -> None:
    presented = credentials_from_header(request.headers.get("authorization"))
    expected: str = request.app.state.operator_key
    if not hmac.compare_digest(presented.encode(), expected.encode()):
        raise Unauthorized("invalid operator key")


PrincipalDep = Annotated[Principal, Depends(_principal)]
AdminDep = Annotated[Principal, Depends(_admin)]
OperatorDep = Annotated[None, Depends(_operator)]
