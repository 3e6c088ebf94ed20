"""Uploads built to hurt the ingester: each is refused or turned into an invalid row with its reason, and the
platform's memory grows by less than MEMORY_BUDGET while it deals with it (sampled every 10 ms in this
process, where the services run). Each upload must also settle within the wait's deadline (60 s)."""

from __future__ import annotations

import io
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager

import psutil
import pytest

MEMORY_BUDGET = 96 * 1024 * 1024


@contextmanager
def peak_rss_growth() -> Iterator[list[int]]:
    """Yields a one-item list holding, once the block ends, the largest RSS growth seen during it."""
    process = psutil.Process()
    start = process.memory_info().rss
    peak = [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], process.memory_info().rss - start)
            stop.wait(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield peak
    finally:
        stop.set()
        sampler.join()
        print(f"peak RSS growth {peak[0] / 2**20:.1f} MiB (budget {MEMORY_BUDGET / 2**20:.0f} MiB)")


async def upload_and_wait(client, filename: str, content: bytes):
    response = await client.upload(filename, content)
    assert response.status_code == 201, response.text
    return await client.wait_dataset(response.json()["id"], timeout_s=60)


def zip_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_zip_bomb_is_refused_by_its_compression_ratio(platform):
    table = b"text,label\n" + b"same text again,x\n" * 3_000_000  # 54 MB of one repeated line
    bomb = zip_of({"data.csv": table})
    assert len(table) / len(bomb) > 200  # the ratio the test is about
    async with platform.org("bombs") as client:
        with peak_rss_growth() as growth:
            dataset = await upload_and_wait(client, "bomb.zip", bomb)
        assert dataset["status"] == "failed"
        assert "unpacks" in dataset["error"] and "times its compressed size" in dataset["error"]
        assert dataset["row_count"] == 0
        assert await client.rows(dataset["id"]) == []
    assert growth[0] < MEMORY_BUDGET, growth[0]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_one_endless_line_fails_the_upload_at_the_limit_not_at_the_end(platform):
    endless = b"text,label\n" + b"x" * (24 * 1024 * 1024)  # 24 MiB and no newline
    async with platform.org("bombs") as client:
        with peak_rss_growth() as growth:
            dataset = await upload_and_wait(client, "long.csv", endless)
        assert dataset["status"] == "failed"
        assert "line 2: the line is longer than" in dataset["error"]
        assert dataset["row_count"] == 0
    assert growth[0] < MEMORY_BUDGET, growth[0]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_long_first_line_is_refused_without_sniffing_it_whole(platform):
    header_only = b"a," * (3 * 1024 * 1024) + b"b\n1,2\n"  # a 6 MiB header line
    async with platform.org("bombs") as client:
        response = await client.upload("wide.csv", header_only)
        if response.status_code == 201:
            dataset = await client.wait_dataset(response.json()["id"])
            assert dataset["status"] == "failed"
            detail = dataset["error"]
        else:
            assert response.status_code == 422, response.text
            detail = response.json()["detail"]
        assert "longer than" in detail or "more than the limit of" in detail


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_multipart_with_thousands_of_fields_is_a_400(platform):
    boundary = "bomb"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="f{i}"\r\n\r\nv\r\n' for i in range(16_000)]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\na,b\n1,2\n\r\n')
    body = ("".join(parts) + f"--{boundary}--\r\n").encode()
    async with platform.org("bombs") as client:
        with peak_rss_growth() as growth:
            response = await client.post(
                "/v1/datasets", content=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
            )
        assert response.status_code == 400, response.text
        assert response.json()["error"] == "BadRequest"
        assert "more than 16 parts" in response.json()["detail"]
        assert (await client.get("/v1/datasets")).json()["items"] == []
    assert growth[0] < MEMORY_BUDGET, growth[0]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # One part header of 200 KB.
        (
            '--b\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\nX-Pad: '
            + "p" * 200_000
            + "\r\n\r\na,b\n1,2\n\r\n--b--\r\n",
            "header",
        ),
        # Not multipart at all under a multipart content type.
        ("\x00\x01garbage without any boundary line\r\n\r\n", "malformed"),
        # A header line with no colon.
        ("--b\r\nnot a header\r\n\r\ndata\r\n--b--\r\n", "malformed"),
    ],
)
async def test_malformed_multipart_bodies_are_a_400_not_a_500(platform, body, expected):
    async with platform.org("bombs") as client:
        response = await client.post(
            "/v1/datasets", content=body.encode(), headers={"Content-Type": "multipart/form-data; boundary=b"}
        )
        assert response.status_code == 400, response.text
        assert expected in response.json()["detail"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_deeply_nested_json_is_an_invalid_row_not_a_failed_upload(platform):
    deep = "[" * 5_000 + "]" * 5_000  # Python's own parser recurses past its limit at about 1,000
    csv_content = b"text,meta\nhello," + deep.encode() + b"\nworld,[1]\n"
    jsonl_content = b'{"text": "a"}\n{"text": "b", "meta": ' + deep.encode() + b"}\n" + b'{"text": "c"}\n' * 3
    async with platform.org("bombs") as client:
        from_csv = await upload_and_wait(client, "deep.csv", csv_content)
        assert from_csv["status"] == "ready", from_csv
        assert from_csv["row_count"] == 2
        from_jsonl = await upload_and_wait(client, "deep.jsonl", jsonl_content)
        assert from_jsonl["status"] == "ready", from_jsonl
        invalid = await client.rows(from_jsonl["id"], status="invalid")
        assert [row["line"] for row in invalid] == [2]
        assert "nested deeper than 64 levels" in invalid[0]["errors"][0]
