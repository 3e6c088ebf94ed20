"""Moving whole files and folders between local disk and an object store, streaming (never whole in memory)."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from automl_common.storage.base import ObjectStore

CHUNK = 1024 * 1024


async def download_file(store: ObjectStore, key: str, path: Path) -> None:
    """Write object ``key`` to ``path`` (through a temporary file, so ``path`` is whole or absent)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
    try:
        async with await store.open(key) as stream:
            with partial.open("wb") as handle:
                async for chunk in stream:
                    handle.write(chunk)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


async def _chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as handle:
        while chunk := await asyncio.to_thread(handle.read, CHUNK):
            yield chunk


async def upload_file(store: ObjectStore, path: Path, key: str, *, content_type: str | None = None) -> None:
    await store.put(key, _chunks(path), content_type=content_type)


async def download_prefix(store: ObjectStore, prefix: str, directory: Path) -> int:
    """Every object under ``prefix`` into ``directory`` (keys relative to the prefix); ``directory`` appears
    whole or not at all. Returns the number of files."""
    staging = directory.with_name(f".{directory.name}.{uuid.uuid4().hex}.part")
    count = 0
    try:
        async for info in store.list(prefix):
            relative = info.key[len(prefix) :].lstrip("/")
            target = (staging / relative).resolve()
            if not target.is_relative_to(staging.resolve()):
                continue  # a key that would escape the folder
            await download_file(store, info.key, target)
            count += 1
        await asyncio.to_thread(_publish, staging, directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return count


def _publish(staging: Path, directory: Path) -> None:
    staging.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(staging, directory)
    except OSError:
        if not directory.is_dir():  # another process won the race: keep its copy
            raise


async def upload_directory(store: ObjectStore, directory: Path, prefix: str) -> int:
    files = await asyncio.to_thread(lambda: sorted(path for path in directory.rglob("*") if path.is_file()))
    for path in files:
        await upload_file(store, path, prefix + path.relative_to(directory).as_posix())
    return len(files)
