from __future__ import annotations

CSV = b'text,label\nhello world,ham\nwin money now,spam\n"multi\nline",ham\n' + b"".join(
    f"message number {index},{'spam' if index % 3 == 0 else 'ham'}\n".encode() for index in range(30)
)


async def test_csv_upload_becomes_ready_with_inferred_columns(platform):
    async with platform.org("acme") as client:
        response = await client.upload("sms.csv", CSV, name="sms")
        assert response.status_code == 201, response.text
        created = response.json()
        assert created["status"] == "processing"
        assert created["source"]["format"] == "csv"
        dataset = await client.wait_dataset(created["id"])
        assert dataset["status"] == "ready", dataset
        assert dataset["row_count"] == 33
        assert dataset["invalid_row_count"] == 0
        columns = {column["name"]: column for column in dataset["columns"]}
        assert columns["text"]["inferred_type"] == "text"
        assert columns["label"]["inferred_type"] == "label"
        assert columns["label"]["distinct_count"] == 2
        rows = await client.rows(created["id"])
        assert rows[2]["values"] == {"text": "multi\nline", "label": "ham"}
        assert rows[2]["line"] == 4
        assert [row["index"] for row in rows] == list(range(33))


async def upload_and_wait(client, filename: str, content: bytes, **kwargs):
    response = await client.upload(filename, content, **kwargs)
    assert response.status_code == 201, response.text
    return await client.wait_dataset(response.json()["id"])


async def test_formats_bom_tsv_semicolons_and_jsonl(platform):
    async with platform.org("acme") as client:
        bom = await upload_and_wait(client, "bom.csv", b"\xef\xbb\xbfa,b\n1,x\n2,y\n")
        assert [c["name"] for c in bom["columns"]] == ["a", "b"]
        tsv = await upload_and_wait(client, "data.tsv", b"a\tb\nhello, world\tx\n")
        assert (await client.rows(tsv["id"]))[0]["values"] == {"a": "hello, world", "b": "x"}
        semicolons = await upload_and_wait(client, "data.csv", b"a;b;c\n1;2;3\n4;5;6\n")
        assert [c["name"] for c in semicolons["columns"]] == ["a", "b", "c"]
        utf16 = await upload_and_wait(client, "u16.csv", "a,b\nhé,x\n".encode("utf-16"))
        assert (await client.rows(utf16["id"]))[0]["values"] == {"a": "hé", "b": "x"}
        jsonl = await upload_and_wait(
            client,
            "data.jsonl",
            b'{"text": "hi", "meta": {"k": 1}}\n{"text": "yo", "extra": 5}\nnot json\n[1, 2]\n'
            + b'{"text": "ok"}\n' * 3,
        )
        assert [c["name"] for c in jsonl["columns"]] == ["text", "meta", "extra"]
        rows = await client.rows(jsonl["id"])
        assert rows[0]["values"] == {"text": "hi", "meta": {"k": 1}}
        invalid = [row for row in rows if row["status"] == "invalid"]
        assert [row["line"] for row in invalid] == [3, 4]
        assert "line 3: invalid JSON" in invalid[0]["errors"][0]
        assert "line 4: expected a JSON object" in invalid[1]["errors"][0]
        assert jsonl["invalid_row_count"] == 2


async def test_ragged_rows_are_invalid_rows_with_line_and_reason(platform):
    async with platform.org("acme") as client:
        content = b"a,b\n1,2\n3\n4,5,6\n7,8\n"
        dataset = await upload_and_wait(client, "ragged.csv", content)
        assert dataset["status"] == "ready"
        assert dataset["invalid_row_count"] == 2
        invalid = await client.rows(dataset["id"], status="invalid")
        assert [(row["line"], row["errors"]) for row in invalid] == [
            (3, ["line 3: expected 2 fields, found 1"]),
            (4, ["line 4: expected 2 fields, found 3"]),
        ]
        assert [row["values"] for row in await client.rows(dataset["id"], status="ok")] == [
            {"a": "1", "b": "2"},
            {"a": "7", "b": "8"},
        ]


async def test_too_many_bad_rows_fails_the_upload_and_keeps_no_rows(platform):
    async with platform.org("acme") as client:
        dataset = await upload_and_wait(client, "bad.csv", b"a,b\n1\n2\n3\n4,5\n")
        assert dataset["status"] == "failed"
        assert "3 of 4 rows are invalid" in dataset["error"]
        assert "line 2: expected 2 fields, found 1" in dataset["error"]
        assert dataset["row_count"] == 0
        assert dataset["columns"] == []
        assert await client.rows(dataset["id"]) == []


async def test_bad_files_are_refused_at_once_and_leave_nothing(platform):
    async with platform.org("acme") as client:
        cases = {
            "latin1.csv": (b"name,label\ncaf\xe9,x\n", "line 2: the file is not UTF-8 text (byte 0xe9)"),
            "dup.csv": (b"a,b,a\n1,2,3\n", "column name 'a' appears twice (columns 1 and 3)"),
            "empty-name.csv": (b"a,,c\n1,2,3\n", "column 2 has an empty name"),
            "empty.csv": (b"", "the file is empty"),
            "blank.csv": (b"\n\n", "the file is empty"),
            "fake.zip": (b"a,b\n1,2\n", "not a zip file"),
        }
        for filename, (content, expected) in cases.items():
            response = await client.upload(filename, content)
            assert response.status_code == 422, (filename, response.text)
            body = response.json()
            assert body["error"] == "UploadFormatError", filename
            assert expected in body["detail"], (filename, body["detail"])
        listed = (await client.get("/v1/datasets")).json()
        assert listed["items"] == []
    store = platform.apps["dataset"].state.store
    assert [info.key async for info in store.list("orgs/")] == []


async def test_encoding_error_deep_in_the_file_fails_with_its_line(platform):
    async with platform.org("acme") as client:
        content = (
            b"text,label\n" + b"".join(f"row {index},x\n".encode() for index in range(20000)) + b"bad \xff byte,y\n"
        )
        dataset = await upload_and_wait(client, "late.csv", content)
        assert dataset["status"] == "failed"
        assert "line 20002" in dataset["error"]
        assert dataset["row_count"] == 0
        assert await client.rows(dataset["id"]) == []


async def test_upload_errors_for_the_request_itself(platform):
    async with platform.org("acme") as client:
        not_multipart = await client.post("/v1/datasets", content=b"a,b\n1,2\n", headers={"Content-Type": "text/csv"})
        assert not_multipart.status_code == 415
        assert not_multipart.json()["error"] == "UnsupportedMediaType"
        no_file = await client.post("/v1/datasets", data={"name": "x"}, files={"other": ("x.csv", b"a\n1\n")})
        assert no_file.status_code == 400
        assert "'file'" in no_file.json()["detail"]
        long_name = await client.upload("a.csv", b"a,b\n1,2\n", name="n" * 201)
        assert long_name.status_code == 422
        assert "name" in long_name.json()["detail"]


async def test_oversized_upload_is_413_and_leaves_nothing(tmp_path, database_url):
    from tests.support.platform import run_platform

    with run_platform(
        tmp_path, {"dataset": database_url, "gateway": database_url}, dataset_overrides={"max_upload_bytes": 10_000}
    ) as platform:
        async with platform.org("acme") as client:
            response = await client.upload("big.csv", b"a,b\n" + b"1,2\n" * 5000)
            assert response.status_code == 413
            assert response.json()["error"] == "PayloadTooLarge"
            assert (await client.get("/v1/datasets")).json()["items"] == []
        store = platform.apps["dataset"].state.store
        assert [info.key async for info in store.list("orgs/")] == []


async def test_too_many_rows_fails(tmp_path, database_url):
    from tests.support.platform import run_platform

    with run_platform(
        tmp_path, {"dataset": database_url, "gateway": database_url}, dataset_overrides={"max_rows": 10}
    ) as platform:
        async with platform.org("acme") as client:
            dataset = await upload_and_wait(client, "rows.csv", b"a\n" + b"1\n" * 11)
            assert dataset["status"] == "failed"
            assert "more than the limit of 10 rows" in dataset["error"]


async def test_column_type_inference(platform):
    async with platform.org("acme") as client:
        lines = ["id,text,label,score,payload,photo,empty"]
        for index in range(60):
            label = ["spam", "ham", "promo"][index % 3]
            lines.append(
                f'{index},"some free text {index} {"x" * (index % 7)}",{label},{index * 0.5},"{{""k"": {index}}}",https://cdn.example.com/p/{index}.jpg,'
            )
        dataset = await upload_and_wait(client, "types.csv", ("\n".join(lines) + "\n").encode())
        inferred = {column["name"]: column["inferred_type"] for column in dataset["columns"]}
        assert inferred == {
            "id": "ignore",
            "text": "text",
            "label": "label",
            "score": "number",
            "payload": "json",
            "photo": "image",
            "empty": "ignore",
        }
        label = next(column for column in dataset["columns"] if column["name"] == "label")
        assert label["distinct_count"] == 3
        assert label["samples"] == ["spam", "ham", "promo"]
