"""Safe retries of every create: a POST with an ``Idempotency-Key`` header runs once per org and key, and its
retries get the first answer back (Stripe's semantics).

- Same key, same method, path and body: the stored answer, with ``Idempotent-Replayed: true``.
- Same key, another body or path: 422 ``IdempotencyKeyReused``.
- Same key while the first request still runs: 409 ``IdempotencyKeyInProgress`` (retry later).
- An answer is stored only if the request ran: a 5xx, a 401/403/429 or a transport failure deletes the
  record, so the retry runs again. A record whose request was cut off (its gateway died) is taken over once
  it has not been refreshed for ``stale_after_s``. Records are kept ``ttl_s`` (24 h).

It wraps the proxy and the gateway's own routes alike, so every service's creates get it in one place. The
body is hashed as it streams to the service (an upload is never held in memory); multipart bodies are hashed
without their boundary, which a client picks afresh on each retry. Answers that hold a secret shown once (a
new API key) are not stored: their retry is told what was created instead."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
from dataclasses import dataclass
from datetime import timedelta

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from automl_common.asgi import header_value, request_id_of, send_error
from automl_common.db import Database, utcnow
from automl_common.errors import AutoMLError, Conflict, Forbidden, InvalidRequest, Unauthorized
from gateway.auth import Authenticator, check_scope, credentials_from_header
from gateway.idempotency.repository import IdempotencyRepository
from gateway.models import IdempotencyRecord

logger = logging.getLogger("automl.gateway.idempotency")

HEADER = b"idempotency-key"
MAX_KEY_LENGTH = 255
MAX_STORED_BODY = 256 * 1024
# Answers worth replaying: the request ran to a decision. Not: auth failures, rate limits, conflicts with a
# concurrent request, server errors (the retry should run again).
_NOT_STORED = frozenset({401, 403, 409, 429})
# Creates whose answer carries a secret shown once: stored without the body. (Creating an org takes the
# operator key, not an org's, and so never reaches this middleware's records.)
_SECRET_ANSWERS = (re.compile(r"^/v1/keys/?$"),)
# What the record keeps of such an answer, to tell a retry what was made.
_SAID_OF_A_SECRET = ("id", "name", "prefix")


class IdempotencyKeyReused(InvalidRequest):
    pass


class IdempotencyKeyInProgress(Conflict):
    pass


class IdempotentSecretNotReplayed(Conflict):
    pass


def _holds_secret(path: str, status: int) -> bool:
    return status < 300 and any(pattern.match(path) for pattern in _SECRET_ANSWERS)


def _without_secret(body: bytes) -> bytes | None:
    """A new key's answer with the key itself left out: what the retry is told was made (its id, prefix)."""
    try:
        answer = json.loads(body)
    except ValueError:
        return None
    if not isinstance(answer, dict):
        return None
    return json.dumps({name: answer.get(name) for name in _SAID_OF_A_SECRET if name in answer}).encode()


def _made(body: bytes | None) -> str:
    answer = json.loads(body) if body else {}
    said = ", ".join(f"{name} {answer[name]}" for name in _SAID_OF_A_SECRET if answer.get(name))
    return f"the resource ({said})" if said else "a resource"


@dataclass
class _Captured:
    status: int = 0
    content_type: str | None = None
    body: bytearray | None = None
    complete: bool = False


class _BodyHasher:
    """sha256 of method, path and body; for multipart, of the body with its boundary taken out."""

    def __init__(self, method: str, path: str, boundary: bytes | None) -> None:
        self._hash = hashlib.sha256(f"{method} {path}\n".encode())
        self._boundary = boundary
        self._tail = b""

    def update(self, chunk: bytes) -> None:
        if not self._boundary:
            self._hash.update(chunk)
            return
        data = (self._tail + chunk).replace(self._boundary, b"")
        # The last len(boundary) - 1 bytes wait for the next chunk: a boundary split over two chunks is
        # then whole, and taken out.
        keep = min(len(data), len(self._boundary) - 1)
        self._tail = data[len(data) - keep :]
        self._hash.update(data[: len(data) - keep])

    def hexdigest(self) -> str:
        self._hash.update(self._tail)
        self._tail = b""
        return self._hash.hexdigest()


def _boundary_of(scope: Scope) -> bytes | None:
    content_type = header_value(scope, b"content-type") or ""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    return match.group(1).encode("latin-1") if match and content_type.startswith("multipart/") else None


class IdempotencyMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        ttl_s: float = 86_400.0,
        stale_after_s: float = 60.0,
    ) -> None:
        self.app = app
        self.ttl = timedelta(seconds=ttl_s)
        self.stale_after = timedelta(seconds=stale_after_s)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        key = header_value(scope, HEADER)
        if key is None:
            await self.app(scope, receive, send)
            return
        state = scope["app"].state
        try:
            if not key or len(key) > MAX_KEY_LENGTH or any(ord(ch) < 33 or ord(ch) > 126 for ch in key):
                raise InvalidRequest(f"Idempotency-Key: 1 to {MAX_KEY_LENGTH} printable ASCII characters, no spaces")
            authenticator: Authenticator = state.authenticator
            try:
                principal = await authenticator.authenticate(
                    credentials_from_header(header_value(scope, b"authorization"))
                )
            except Unauthorized:
                await self.app(scope, receive, send)  # the route answers 401 (and throttles) as usual
                return
            try:  # a stored answer goes only to a key that may make the request itself
                check_scope(principal, scope["method"], scope["path"])
            except Forbidden:
                await self.app(scope, receive, send)  # the route refuses it (403) as usual
                return
            await self._run(scope, receive, send, state.database, principal.org_id, key)
        except AutoMLError as error:
            await send_error(send, error, request_id_of(scope))

    async def _run(self, scope: Scope, receive: Receive, send: Send, database: Database, org_id: str, key: str) -> None:
        method, path = scope["method"], scope["path"]
        hasher = _BodyHasher(method, path, _boundary_of(scope))
        existing = await self._claim(database, org_id, key, method, path)
        if existing is not None:
            await self._answer_retry(existing, receive, send, hasher, scope)
            return

        captured = _Captured()
        heartbeat = asyncio.create_task(self._heartbeat(database, org_id, key))

        async def hashing_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                hasher.update(message.get("body", b""))
            return message

        stored = False

        async def capturing_send(message: Message) -> None:
            nonlocal stored
            if message["type"] == "http.response.start":
                captured.status = message["status"]
                for name, value in message.get("headers", ()):
                    if name.lower() == b"content-type":
                        captured.content_type = value.decode("latin-1")
                captured.body = bytearray()
            elif message["type"] == "http.response.body" and captured.body is not None:
                if len(captured.body) <= MAX_STORED_BODY:
                    captured.body.extend(message.get("body", b""))
                if not message.get("more_body", False):
                    captured.complete = True
                    # Stored before the answer's last bytes go out: a client that retries as soon as it has
                    # the answer finds the record done, not still in progress.
                    try:
                        stored = await self._finish(database, org_id, key, path, hasher, captured)
                    except Exception:  # the answer still goes out; its record is dropped, so a retry runs again
                        logger.exception("storing an idempotent answer failed")
            await send(message)

        try:
            await self.app(scope, hashing_receive, capturing_send)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            if not stored:
                await asyncio.shield(self._forget(database, org_id, key))

    async def _claim(
        self, database: Database, org_id: str, key: str, method: str, path: str
    ) -> IdempotencyRecord | None:
        """Insert an in-progress record for (org, key); None if this request claimed it, else the record found
        (an expired or abandoned one is replaced and claimed)."""
        for _ in range(3):
            now = utcnow()
            async with database.session() as session:
                claimed = await IdempotencyRepository(session).claim(org_id, key, method, path, now)
            if claimed:
                return None
            async with database.session() as session:
                repository = IdempotencyRepository(session)
                found = await repository.find(org_id, key)
                if found is None:
                    continue  # deleted meanwhile: claim again
                expired = found.created_at + self.ttl <= now
                abandoned = found.state == "in_progress" and found.updated_at + self.stale_after <= now
                if not (expired or abandoned):
                    return found
                await repository.delete_if_unchanged(org_id, key, found.updated_at)
        raise IdempotencyKeyInProgress("a request with this Idempotency-Key is in progress; retry later")

    async def _answer_retry(
        self, record: IdempotencyRecord, receive: Receive, send: Send, hasher: _BodyHasher, scope: Scope
    ) -> None:
        if record.method != scope["method"] or record.path != scope["path"]:
            raise IdempotencyKeyReused(
                f"Idempotency-Key was first used for {record.method} {record.path}; use a new key for another request"
            )
        if record.state != "done":
            raise IdempotencyKeyInProgress(
                "a request with this Idempotency-Key is in progress; retry later", headers={"Retry-After": "1"}
            )
        while True:  # the retry's body, hashed and dropped (its size was bounded by the body limit)
            message = await receive()
            if message["type"] != "http.request":
                break
            hasher.update(message.get("body", b""))
            if not message.get("more_body", False):
                break
        if hasher.hexdigest() != record.request_hash:
            raise IdempotencyKeyReused("Idempotency-Key was first used with another request body; use a new key")
        if _holds_secret(record.path, record.status_code or 0):
            made = _made(record.body)
            raise IdempotentSecretNotReplayed(
                f"the first request with this Idempotency-Key succeeded (HTTP {record.status_code}) and made {made}, "
                "but its answer holds a secret that is shown once and was not kept; revoke it and make another "
                "if the secret was lost"
            )
        body = record.body or b""
        headers = [(b"content-length", str(len(body)).encode()), (b"idempotent-replayed", b"true")]
        if record.content_type:
            headers.append((b"content-type", record.content_type.encode("latin-1")))
        await send({"type": "http.response.start", "status": record.status_code or 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _finish(
        self, database: Database, org_id: str, key: str, path: str, hasher: _BodyHasher, captured: _Captured
    ) -> bool:
        if not captured.complete or captured.status >= 500 or captured.status in _NOT_STORED:
            return False
        body = bytes(captured.body or b"")
        if len(body) > MAX_STORED_BODY:
            return False
        body_to_keep = _without_secret(body) if _holds_secret(path, captured.status) else body
        async with database.session() as session:
            await IdempotencyRepository(session).finish(
                org_id,
                key,
                request_hash=hasher.hexdigest(),
                status_code=captured.status,
                content_type=captured.content_type,
                body=body_to_keep,
            )
        return True

    async def _heartbeat(self, database: Database, org_id: str, key: str) -> None:
        """Keep a long request's record fresh, so a retry does not take it over as abandoned."""
        interval = max(1.0, self.stale_after.total_seconds() / 3)
        while True:
            await asyncio.sleep(interval)
            try:
                async with database.session() as session:
                    await IdempotencyRepository(session).touch(org_id, key)
            except Exception:  # a missed beat only shortens the record's lease
                logger.exception("idempotency heartbeat failed")

    async def _forget(self, database: Database, org_id: str, key: str) -> None:
        try:
            async with database.session() as session:
                await IdempotencyRepository(session).forget_in_progress(org_id, key)
        except Exception:  # the record then goes stale and is taken over
            logger.exception("could not release an idempotency record")
