"""The object store contract, run on the filesystem store and on a real SeaweedFS S3 server."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap

import httpx
import pytest

from automl_common.storage import (
    FilesystemStore,
    InvalidObjectKey,
    ObjectNotFound,
    ObjectStore,
    S3Store,
    StoreUnavailable,
)


async def chunks(*parts: bytes):
    for part in parts:
        yield part


async def test_put_then_get_round_trips(object_store: ObjectStore):
    info = await object_store.put("a/b/c.txt", b"hello world", content_type="text/plain")
    assert info.size == 11
    assert info.sha256 == hashlib.sha256(b"hello world").hexdigest()
    assert await object_store.get_bytes("a/b/c.txt") == b"hello world"
    head = await object_store.head("a/b/c.txt")
    assert head.size == 11 and head.key == "a/b/c.txt"


async def test_streamed_put_and_chunked_read(object_store: ObjectStore):
    parts = [os.urandom(100_000) for _ in range(7)]
    await object_store.put("stream/x.bin", chunks(*parts))
    async with await object_store.open("stream/x.bin", chunk_size=64 * 1024) as stream:
        assert stream.info.size == 700_000
        received = [chunk async for chunk in stream]
    assert b"".join(received) == b"".join(parts)
    assert max(len(chunk) for chunk in received) <= 64 * 1024


async def test_overwrite_replaces_whole_object(object_store: ObjectStore):
    await object_store.put("k", b"first version, longer")
    await object_store.put("k", b"second")
    assert await object_store.get_bytes("k") == b"second"


async def test_missing_key_is_a_domain_error(object_store: ObjectStore):
    with pytest.raises(ObjectNotFound):
        await object_store.open("missing/key")
    with pytest.raises(ObjectNotFound):
        await object_store.head("missing/key")
    with pytest.raises(ObjectNotFound):
        await object_store.get_bytes("missing/key")
    assert await object_store.exists("missing/key") is False
    await object_store.delete("missing/key")  # deleting nothing is fine


@pytest.mark.parametrize("key", ["", "/abs", "a//b", "a/../b", "./a", "a\\b", "a\nb", "x" * 1025])
async def test_invalid_keys_are_refused(object_store: ObjectStore, key: str):
    with pytest.raises(InvalidObjectKey):
        await object_store.put(key, b"x")


async def test_list_by_prefix(object_store: ObjectStore):
    for key in ["ds/2/b", "ds/1/a", "ds/10/c", "other/z", "ds-x"]:
        await object_store.put(key, key.encode())

    async def listed(prefix: str) -> list[str]:
        # Order differs between backends (SeaweedFS lists directory by directory), so compare as sets.
        return sorted([info.key async for info in object_store.list(prefix)])

    assert await listed("ds/") == ["ds/1/a", "ds/10/c", "ds/2/b"]
    assert await listed("ds/1") == ["ds/1/a", "ds/10/c"]
    assert await listed("ds") == ["ds-x", "ds/1/a", "ds/10/c", "ds/2/b"]
    assert await listed("nothing/") == []
    sizes = {info.key: info.size async for info in object_store.list("")}
    assert sizes["other/z"] == 7


async def test_delete_and_delete_prefix(object_store: ObjectStore):
    for key in ["p/1", "p/2", "p/sub/3", "q/1"]:
        await object_store.put(key, b"x")
    await object_store.delete("p/1")
    assert await object_store.exists("p/1") is False
    assert await object_store.delete_prefix("p/") == 2
    assert [info.key async for info in object_store.list("")] == ["q/1"]


async def test_failed_streamed_put_leaves_nothing_behind(object_store: ObjectStore):
    await object_store.put("keep", b"old")

    async def failing():
        yield os.urandom(6 * 1024 * 1024)
        yield os.urandom(6 * 1024 * 1024)
        raise RuntimeError("client went away")

    with pytest.raises(RuntimeError):
        await object_store.put("keep", failing())
    assert await object_store.get_bytes("keep") == b"old"
    with pytest.raises(RuntimeError):
        await object_store.put("new-object", failing())
    assert await object_store.exists("new-object") is False


async def test_presigned_url_where_the_backend_has_one(object_store: ObjectStore):
    await object_store.put("shared/file.txt", b"presigned body")
    url = await object_store.presigned_url("shared/file.txt", expires_s=60)
    if isinstance(object_store, S3Store):
        assert url is not None
        async with httpx.AsyncClient() as client:
            response = await client.get(url)
        assert response.status_code == 200 and response.content == b"presigned body"
    else:
        assert url is None


async def test_readiness_check_passes_on_a_usable_store(object_store: ObjectStore):
    await object_store.put("probe", b"x")  # usable: the check must agree
    await object_store.check()
    assert await object_store.get_bytes("probe") == b"x"


async def test_filesystem_check_fails_when_the_root_is_gone(tmp_path):
    store = FilesystemStore(tmp_path / "objects")
    await store.put("k", b"x")
    await store.check()
    shutil.rmtree(tmp_path / "objects")
    with pytest.raises(StoreUnavailable, match="missing or not writable"):
        await store.check()


async def test_s3_check_fails_for_a_missing_bucket(seaweedfs):
    from tests.conftest import s3_store

    store = s3_store(seaweedfs, bucket="never-created-bucket")
    with pytest.raises(StoreUnavailable, match="never-created-bucket"):
        await store.check()
    await store.close()


# The 200 MB test runs in a child process so its peak memory is its own, measured from its start
# (after imports and client set-up) to the end of the round trip.
_STREAM_SCRIPT = textwrap.dedent(
    """
    import asyncio, hashlib, json, os, sys
    import psutil
    from automl_common.storage import FilesystemStore, S3Store
    from pathlib import Path

    SIZE = 200 * 1024 * 1024

    def peak_rss():
        # VmHWM belongs to this process image; getrusage's ru_maxrss would also count the forked parent
        # (the test runner) as it was just before exec.
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        raise RuntimeError("no VmHWM")
    config = json.loads(sys.argv[1])

    async def main():
        if config["backend"] == "filesystem":
            store = FilesystemStore(Path(config["root"]))
        else:
            store = S3Store(config["bucket"], endpoint_url=config["endpoint"], access_key_id=config["access"],
                            secret_access_key=config["secret"])
            await store.ensure_bucket()
        start_rss = psutil.Process().memory_info().rss
        block = os.urandom(1024 * 1024)
        written = hashlib.sha256()

        async def body():
            for index in range(SIZE // len(block)):
                piece = index.to_bytes(8, "big") + block[8:]
                written.update(piece)
                yield piece

        info = await store.put("big/object.bin", body())
        read = hashlib.sha256()
        total = 0
        async with await store.open("big/object.bin") as stream:
            async for chunk in stream:
                read.update(chunk)
                total += len(chunk)
        peak = peak_rss()
        await store.delete("big/object.bin")
        print(json.dumps({"start": start_rss, "peak": peak, "size": info.size, "read": total,
                          "same": read.hexdigest() == written.hexdigest() == info.sha256}))

    asyncio.run(main())
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["filesystem", "s3"])
def test_200_mb_object_streams_in_bounded_memory(backend, tmp_path, request):
    config: dict[str, str] = {"backend": backend, "root": str(tmp_path / "objects")}
    if backend == "s3":
        server = request.getfixturevalue("seaweedfs")
        config |= {
            "endpoint": server.endpoint_url,
            "access": server.access_key_id,
            "secret": server.secret_access_key,
            "bucket": "big-object-test",
        }
    result = subprocess.run(
        [sys.executable, "-c", _STREAM_SCRIPT, json.dumps(config)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["size"] == figures["read"] == 200 * 1024 * 1024
    assert figures["same"] is True
    grown_mb = (figures["peak"] - figures["start"]) / 1024 / 1024
    assert grown_mb < 100, f"peak memory grew {grown_mb:.1f} MB while streaming 200 MB"


async def test_cancelled_open_does_not_leak_the_handle(object_store: ObjectStore):
    import asyncio
    import gc

    await object_store.put("k", b"x" * 1000)
    warm = await object_store.open("k")  # the S3 client's first connection is pooled, not leaked
    await warm.aclose()
    open_before = len(os.listdir("/proc/self/fd"))
    cancelled = 0
    for attempt in range(40):
        task = asyncio.ensure_future(object_store.open("k"))
        for _ in range(attempt % 4):  # cancelled before it starts, while its thread runs, or once it is done
            await asyncio.sleep(0)
        task.cancel()
        try:
            stream = await task
        except asyncio.CancelledError:
            cancelled += 1
            continue
        await stream.aclose()
    await asyncio.sleep(0.3)  # let the worker threads finish and their orphans be closed
    gc.collect()  # an unclosed file would raise ResourceWarning here (warnings are errors)
    assert cancelled > 0, "no open was cancelled: the test did not exercise cancellation"
    # Every orphaned handle was closed: no file descriptor more than before (S3: at most its pooled sockets).
    pool = 0 if isinstance(object_store, FilesystemStore) else 10
    assert len(os.listdir("/proc/self/fd")) <= open_before + pool
