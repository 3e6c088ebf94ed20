"""The object store interface. Bodies move as async iterators of chunks: nothing holds a whole object."""

from __future__ import annotations

import abc
import asyncio
import hashlib
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO, TypeVar

from automl_common.errors import BadRequest, NotFound, ServiceUnavailable

DEFAULT_CHUNK_SIZE = 1024 * 1024
T = TypeVar("T")
MAX_KEY_LENGTH = 1024


class ObjectNotFound(NotFound):
    pass


class InvalidObjectKey(BadRequest):
    pass


class StoreUnavailable(ServiceUnavailable):
    """The store cannot be reached or used (readiness): a missing bucket or root, refused credentials."""


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str | None = None
    content_type: str | None = None
    last_modified: datetime | None = None
    sha256: str | None = None  # known when the store just wrote the object


def validate_key(key: str) -> str:
    """Keys are relative '/'-separated paths: no empty, '.' or '..' segment, no backslash, no control char."""
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidObjectKey(f"object key must be 1..{MAX_KEY_LENGTH} characters")
    if key.startswith("/") or "\\" in key or any(ord(ch) < 32 or ord(ch) == 127 for ch in key):
        raise InvalidObjectKey(f"object key {key!r} has a leading '/', a backslash or a control character")
    if any(part in ("", ".", "..") for part in key.split("/")):
        raise InvalidObjectKey(f"object key {key!r} has an empty, '.' or '..' segment")
    return key


async def run_closing_on_cancel(call: Callable[[], T], close: Callable[[T], object]) -> T:
    """Run a blocking call that opens something in a thread. If the caller is cancelled meanwhile, the
    thread still finishes; whatever it opened is then closed instead of leaking."""
    future = asyncio.ensure_future(asyncio.to_thread(call))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:

        def close_orphan(done: asyncio.Future[T]) -> None:
            if not done.cancelled() and done.exception() is None:
                close(done.result())

        future.add_done_callback(close_orphan)
        raise


class ObjectStream(abc.ABC):
    """An open object: its info, and its body as chunks. Close it (or use ``async with``)."""

    def __init__(self, info: ObjectInfo) -> None:
        self.info = info

    @abc.abstractmethod
    def __aiter__(self) -> AsyncIterator[bytes]: ...

    @abc.abstractmethod
    async def aclose(self) -> None: ...

    async def __aenter__(self) -> ObjectStream:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()


class BlockingReaderStream(ObjectStream):
    """A stream over a blocking reader (a file, a boto3 body): each read runs in a worker thread.

    A cancelled read keeps running in its thread (it is shielded), so closing waits for it: closing a reader
    that another thread is reading from can fail and leave it open."""

    def __init__(self, info: ObjectInfo, reader: BinaryIO, chunk_size: int) -> None:
        super().__init__(info)
        self._reader = reader
        self._chunk_size = chunk_size
        self._pending: asyncio.Future[bytes] | None = None
        self._closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while not self._closed:
            self._pending = asyncio.ensure_future(asyncio.to_thread(self._reader.read, self._chunk_size))
            chunk = await asyncio.shield(self._pending)
            self._pending = None
            if not chunk:
                return
            yield chunk

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        pending = self._pending
        if pending is not None and not pending.done():
            pending.add_done_callback(lambda _: self._reader.close())
            return
        # Closed here rather than in a worker thread: a queued thread job is dropped when its awaiting task is
        # cancelled, and the reader would stay open. Closing a file or an HTTP body does not block for long.
        self._reader.close()


class ObjectStore(abc.ABC):
    @abc.abstractmethod
    async def put(self, key: str, data: bytes | AsyncIterable[bytes], *, content_type: str | None = None) -> ObjectInfo:
        """Write an object atomically: readers see the old object or the whole new one, never a part."""

    @abc.abstractmethod
    async def open(self, key: str, *, chunk_size: int = DEFAULT_CHUNK_SIZE) -> ObjectStream:
        """Open an object for streaming; ``ObjectNotFound`` at once if it does not exist."""

    @abc.abstractmethod
    async def head(self, key: str) -> ObjectInfo: ...

    @abc.abstractmethod
    def list(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        """Objects whose key starts with ``prefix`` (order is the backend's: S3 sorts, SeaweedFS need not)."""

    @abc.abstractmethod
    async def delete(self, key: str) -> None:
        """Delete an object; deleting a missing object is not an error."""

    @abc.abstractmethod
    async def presigned_url(self, key: str, *, expires_s: int = 3600) -> str | None:
        """A time-limited GET URL, or None where the backend has no such thing."""

    @abc.abstractmethod
    async def check(self) -> None:
        """Raise if the store cannot be reached (readiness)."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release clients and pools."""

    async def get_bytes(self, key: str) -> bytes:
        """A small object's whole body. Large objects should be streamed with ``open``."""
        async with await self.open(key) as stream:
            return b"".join([chunk async for chunk in stream])

    async def exists(self, key: str) -> bool:
        try:
            await self.head(key)
        except ObjectNotFound:
            return False
        return True

    async def delete_prefix(self, prefix: str) -> int:
        keys = [info.key async for info in self.list(prefix)]
        for key in keys:
            await self.delete(key)
        return len(keys)


async def as_chunks(data: bytes | AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    if isinstance(data, bytes | bytearray | memoryview):
        yield bytes(data)
        return
    async for chunk in data:
        if chunk:
            yield chunk


def new_hasher() -> hashlib._Hash:
    return hashlib.sha256()
