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
