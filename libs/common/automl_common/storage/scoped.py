"""An object store that only reaches some prefixes: what a process that handles one tenant's job is given.

A training worker may read its snapshots, base model and parent, and write only under its own output prefix;
a replica may read only its model and base model. A key outside the scope is refused before the backend sees
it. (On a cluster the credentials themselves should be scoped as well; this bounds what our code can do with
them, whatever a bug or a hostile input makes it ask for.)"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable
from dataclasses import dataclass

from automl_common.errors import Forbidden
from automl_common.storage.base import DEFAULT_CHUNK_SIZE, ObjectInfo, ObjectStore, ObjectStream, validate_key


class OutOfScope(Forbidden):
    pass


@dataclass(frozen=True)
class StoreScope:
    """Keys (exact, or prefixes ending in ``/``) a process may read, and those it may also write."""

    read: tuple[str, ...] = ()
    write: tuple[str, ...] = ()

    @classmethod
    def of(cls, *, read: Iterable[str | None] = (), write: Iterable[str | None] = ()) -> StoreScope:
        writable = tuple(p for p in write if p)
        return cls(read=tuple(p for p in read if p) + writable, write=writable)

    @staticmethod
    def covers(patterns: tuple[str, ...], key: str) -> bool:
        return any(key == p or (p.endswith("/") and key.startswith(p)) for p in patterns)

    def check_read(self, key: str) -> None:
        if not self.covers(self.read, validate_key(key)):
            raise OutOfScope(f"object {key!r} is outside this process's store scope")

    def check_write(self, key: str) -> None:
        if not self.covers(self.write, validate_key(key)):
            raise OutOfScope(f"object {key!r} is outside this process's writable store scope")

    def check_list(self, prefix: str) -> None:
        # A listing may only be narrower than (or equal to) a readable prefix.
        folder = prefix if prefix.endswith("/") else prefix + "/"
        if not any(p.endswith("/") and folder.startswith(p) for p in self.read):
            raise OutOfScope(f"listing {prefix!r} is outside this process's store scope")


class ScopedStore(ObjectStore):
    def __init__(self, inner: ObjectStore, scope: StoreScope) -> None:
        self.inner = inner
        self.scope = scope

    async def put(self, key: str, data: bytes | AsyncIterable[bytes], *, content_type: str | None = None) -> ObjectInfo:
        self.scope.check_write(key)
        return await self.inner.put(key, data, content_type=content_type)

    async def open(self, key: str, *, chunk_size: int = DEFAULT_CHUNK_SIZE) -> ObjectStream:
        self.scope.check_read(key)
        return await self.inner.open(key, chunk_size=chunk_size)

    async def head(self, key: str) -> ObjectInfo:
        self.scope.check_read(key)
        return await self.inner.head(key)

    async def list(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        self.scope.check_list(prefix)
        async for info in self.inner.list(prefix):
            if self.scope.covers(self.scope.read, info.key):  # "models/a" also lists "models/ab/..."
                yield info

    async def delete(self, key: str) -> None:
        self.scope.check_write(key)
        await self.inner.delete(key)

    async def presigned_url(self, key: str, *, expires_s: int = 3600) -> str | None:
        self.scope.check_read(key)
        return await self.inner.presigned_url(key, expires_s=expires_s)

    async def check(self) -> None:
        await self.inner.check()

    async def close(self) -> None:
        await self.inner.close()
