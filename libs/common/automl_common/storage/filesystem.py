"""A filesystem object store for local mode: one file per object under a root directory."""

from __future__ import annotations

import asyncio
import builtins
import os
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from automl_common.storage.base import (
    DEFAULT_CHUNK_SIZE,
    BlockingReaderStream,
    InvalidObjectKey,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    ObjectStream,
    StoreUnavailable,
    as_chunks,
    new_hasher,
    validate_key,
)

_TMP_DIR = ".tmp"


class FilesystemStore(ObjectStore):
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / _TMP_DIR).mkdir(exist_ok=True)
        self.sweep_abandoned()

    def sweep_abandoned(self) -> int:
        """Remove the partial writes of processes that died mid-put (killed: their ``finally`` never ran).
        Each temporary file is named for its writer's pid, so only dead writers' files go, whichever of the
        processes sharing this root looks."""
        removed = 0
        for temporary in (self.root / _TMP_DIR).iterdir():
            pid, _, _ = temporary.name.partition("-")
            if pid.isdigit() and not _alive(int(pid)):
                temporary.unlink(missing_ok=True)
                removed += 1
        return removed

    def _path(self, key: str) -> Path:
        validate_key(key)
        if key.split("/", 1)[0] == _TMP_DIR:
            raise InvalidObjectKey(f"object keys may not start with {_TMP_DIR!r}")
        return self.root / key

    def _info(self, key: str, path: Path, sha256: str | None = None) -> ObjectInfo:
        try:
            stat = path.stat()
        except (FileNotFoundError, NotADirectoryError) as error:
            raise ObjectNotFound(f"object {key!r} does not exist") from error
        if not path.is_file():
            raise ObjectNotFound(f"object {key!r} does not exist")
        return ObjectInfo(
            key=key,
            size=stat.st_size,
            etag=f"{stat.st_mtime_ns:x}-{stat.st_size:x}",
            last_modified=datetime.fromtimestamp(stat.st_mtime, UTC),
            sha256=sha256,
        )

    async def put(self, key: str, data: bytes | AsyncIterable[bytes], *, content_type: str | None = None) -> ObjectInfo:
        path = self._path(key)
        temporary = self.root / _TMP_DIR / f"{os.getpid()}-{uuid.uuid4().hex}"
        hasher = new_hasher()
        handle = open(temporary, "wb")  # noqa: ASYNC230, SIM115 - see open(): never in a thread that can be dropped
        try:
            async for chunk in as_chunks(data):
                hasher.update(chunk)
                await asyncio.to_thread(handle.write, chunk)
            await asyncio.to_thread(_flush_and_sync, handle)
            handle.close()
            await asyncio.to_thread(_place, temporary, path)
        except BaseException:
            handle.close()
            temporary.unlink(missing_ok=True)
            raise
        return self._info(key, path, sha256=hasher.hexdigest())

    async def open(self, key: str, *, chunk_size: int = DEFAULT_CHUNK_SIZE) -> ObjectStream:
        path = self._path(key)
        info = self._info(key, path)
        try:
            # Opened here, not in a worker thread: a local open is one quick syscall, and a thread's result can
            # be dropped by a cancellation (then the file would leak).
            handle = open(path, "rb")  # noqa: ASYNC230, SIM115 - closed by the stream's aclose
        except FileNotFoundError as error:
            raise ObjectNotFound(f"object {key!r} does not exist") from error
        return BlockingReaderStream(info, handle, chunk_size)

    async def head(self, key: str) -> ObjectInfo:
        return self._info(key, self._path(key))

    async def list(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        keys = await asyncio.to_thread(self._matching_keys, prefix)
        for key in keys:
            try:
                yield self._info(key, self.root / key)
            except ObjectNotFound:
                continue  # deleted while listing

    def _matching_keys(self, prefix: str) -> builtins.list[str]:
        # Walk only the deepest directory the prefix names fully, then filter by the partial last segment.
        directory = self.root / prefix.rsplit("/", 1)[0] if "/" in prefix else self.root
        if not directory.is_dir():
            return []
        keys: builtins.list[str] = []
        for current, dirnames, filenames in os.walk(directory):
            relative = Path(current).relative_to(self.root).as_posix()
            if relative == _TMP_DIR:
                dirnames.clear()
                continue
            base = "" if relative == "." else relative + "/"
            keys.extend(base + name for name in filenames if (base + name).startswith(prefix))
        return sorted(keys)

    async def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            await asyncio.to_thread(path.unlink)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return
        _prune_empty_parents(path.parent, self.root)

    async def presigned_url(self, key: str, *, expires_s: int = 3600) -> str | None:
        return None

    async def check(self) -> None:
        if not self.root.is_dir() or not os.access(self.root, os.W_OK):
            raise StoreUnavailable(f"object store root {self.root} is missing or not writable")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _flush_and_sync(handle: BinaryIO) -> None:
    handle.flush()
    os.fsync(handle.fileno())


def _place(temporary: Path, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.replace(temporary, path)


def _prune_empty_parents(directory: Path, root: Path) -> None:
    while directory != root:
        try:
            directory.rmdir()
        except OSError:
            return
        directory = directory.parent
