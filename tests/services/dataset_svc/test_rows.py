from __future__ import annotations

from sqlalchemy import text

from automl_common.db import create_engine
from tests.services.dataset_svc.test_upload import upload_and_wait

CSV = b"text,label\n" + b"".join(
    f"message {index},{'spam' if index % 4 == 0 else 'ham'}\n".encode() for index in range(120)
)


async def test_paging_with_cursor_and_start(platform):
    async with platform.org("acme") as client:
        dataset = await upload_and_wait(client, "d.csv", CSV)
        first = (await client.get(f"/v1/datasets/{dataset['id']}/rows", params={"limit": 50})).json()
        assert [row["index"] for row in first["items"]] == list(range(50))
        second = (
            await client.get(f"/v1/datasets/{dataset['id']}/rows", params={"limit": 50, "after": first["next"]})
        ).json()
        assert [row["index"] for row in second["items"]] == list(range(50, 100))
        deep = (await client.get(f"/v1/datasets/{dataset['id']}/rows", params={"limit": 5, "start": 117})).json()
        assert [row["index"] for row in deep["items"]] == [117, 118, 119]
        assert deep["next"] is None
        spam = await client.rows(dataset["id"], status="ok")
        assert len(spam) == 120
        bad = await client.get(f"/v1/datasets/{dataset['id']}/rows", params={"after": "abc"})
        assert bad.status_code == 422
        bad_status = await client.get(f"/v1/datasets/{dataset['id']}/rows", params={"status": "weird"})
        assert bad_status.status_code == 422


async def test_edit_add_delete_bump_the_version(platform):
    async with platform.org("acme") as client:
        dataset = await upload_and_wait(client, "d.csv", CSV)
        dataset_id = dataset["id"]
        assert dataset["version"] == 1
        row = (await client.rows(dataset_id))[0]

        edited = await client.patch(f"/v1/datasets/{dataset_id}/rows/{row['id']}", json={"values": {"label": "ham"}})
        assert edited.status_code == 200, edited.text
        assert edited.json()["values"] == {"text": "message 0", "label": "ham"}
        assert (await client.get(f"/v1/datasets/{dataset_id}")).json()["version"] == 2

        added = await client.post(
            f"/v1/datasets/{dataset_id}/rows", json={"rows": [{"values": {"text": "new", "label": "spam"}}]}
        )
        assert added.status_code == 201, added.text
        new_row = added.json()["items"][0]
        assert new_row["index"] == 120
        assert new_row["line"] is None
        after_add = (await client.get(f"/v1/datasets/{dataset_id}")).json()
        assert after_add["version"] == 3
        assert after_add["row_count"] == 121

        deleted = await client.delete(f"/v1/datasets/{dataset_id}/rows/{row['id']}")
        assert deleted.status_code == 204
        after_delete = (await client.get(f"/v1/datasets/{dataset_id}")).json()
        assert after_delete["version"] == 4
        assert after_delete["row_count"] == 120
        assert (await client.get(f"/v1/datasets/{dataset_id}/rows/{row['id']}")).status_code == 404
        # Stable ids: the other rows kept theirs.
        assert (await client.get(f"/v1/datasets/{dataset_id}/rows/{new_row['id']}")).json()["values"]["text"] == "new"


async def test_bad_edits_are_refused_and_change_nothing(platform):
    async with platform.org("acme") as client:
        dataset = await upload_and_wait(client, "d.csv", CSV)
        dataset_id = dataset["id"]
        row = (await client.rows(dataset_id))[0]
        cases = [
            ({"values": {"nope": "x"}}, "no column named 'nope'"),
            ({"values": {}}, "values"),
            ({"values": {"label": {"a": 1}}}, "only allowed in json columns"),
            ({"values": {"label": "x" * 100_001}}, "longer than"),
            ({"label": "x"}, "values"),
        ]
        for body, expected in cases:
            response = await client.patch(f"/v1/datasets/{dataset_id}/rows/{row['id']}", json=body)
            assert response.status_code == 422, body
            assert expected in response.json()["detail"], (body, response.json())
        too_many = await client.post(
            f"/v1/datasets/{dataset_id}/rows", json={"rows": [{"values": {"text": "x"}}] * 1001}
        )
        assert too_many.status_code == 422
        half_bad = await client.post(
            f"/v1/datasets/{dataset_id}/rows", json={"rows": [{"values": {"text": "ok"}}, {"values": {"bad": "x"}}]}
        )
        assert half_bad.status_code == 422
        assert "rows.1.values" in half_bad.json()["detail"]
        after = (await client.get(f"/v1/datasets/{dataset_id}")).json()
        assert after["version"] == 1
        assert after["row_count"] == 120
        assert (await client.rows(dataset_id))[0]["values"] == row["values"]
        missing = await client.patch(f"/v1/datasets/{dataset_id}/rows/999999999", json={"values": {"label": "x"}})
        assert missing.status_code == 404


async def test_editing_an_invalid_row_makes_it_valid(platform):
    async with platform.org("acme") as client:
        dataset = await upload_and_wait(client, "d.csv", b"text,label\na,x\nbroken\nc,y\nd,x\n")
        invalid = await client.rows(dataset["id"], status="invalid")
        assert len(invalid) == 1
        fixed = await client.patch(
            f"/v1/datasets/{dataset['id']}/rows/{invalid[0]['id']}", json={"values": {"text": "b", "label": "y"}}
        )
        assert fixed.json()["status"] == "ok"
        assert fixed.json()["errors"] is None
        after = (await client.get(f"/v1/datasets/{dataset['id']}")).json()
        assert after["invalid_row_count"] == 0


async def test_column_mapping(platform):
    async with platform.org("acme") as client:
        dataset = await upload_and_wait(client, "d.csv", CSV)
        dataset_id = dataset["id"]
        assert dataset["mapping_confirmed"] is False
        unknown = await client.put(f"/v1/datasets/{dataset_id}/columns", json={"columns": {"nope": "text"}})
        assert unknown.status_code == 422
        assert "nope" in unknown.json()["detail"]
        bad_type = await client.put(f"/v1/datasets/{dataset_id}/columns", json={"columns": {"text": "video"}})
        assert bad_type.status_code == 422
        confirmed = await client.put(
            f"/v1/datasets/{dataset_id}/columns", json={"columns": {"label": "label", "text": "text"}}
        )
        assert confirmed.status_code == 200
        body = confirmed.json()
        assert body["mapping_confirmed"] is True
        assert body["version"] == 2
        corrected = await client.put(f"/v1/datasets/{dataset_id}/columns", json={"columns": {"text": "ignore"}})
        assert {c["name"]: c["type"] for c in corrected.json()["columns"]} == {"text": "ignore", "label": "label"}
        assert {c["name"]: c["inferred_type"] for c in corrected.json()["columns"]} == {
            "text": "text",
            "label": "label",
        }


async def test_export_streams_header_rows_trailer(platform):
    import json

    async with platform.org("acme") as client:
        dataset = await upload_and_wait(client, "d.csv", CSV)
        response = await client.get(f"/v1/datasets/{dataset['id']}/export")
        assert response.status_code == 200
        lines = [json.loads(line) for line in response.text.splitlines()]
        assert lines[0]["kind"] == "header"
        assert lines[0]["version"] == 1
        assert [column["name"] for column in lines[0]["columns"]] == ["text", "label"]
        assert len(lines) == 122
        assert lines[1]["values"] == {"text": "message 0", "label": "spam"}
        assert lines[-1] == {"kind": "trailer", "rows": 120, "version": 1, "complete": True}


async def test_org_b_gets_404_for_org_a_dataset_and_rows(platform):
    async with platform.org("org-a") as a, platform.org("org-b") as b:
        dataset = await upload_and_wait(a, "d.csv", CSV)
        row = (await a.rows(dataset["id"]))[0]
        base = f"/v1/datasets/{dataset['id']}"
        for method, path, body in [
            ("GET", base, None),
            ("GET", f"{base}/rows", None),
            ("GET", f"{base}/rows/{row['id']}", None),
            ("PATCH", f"{base}/rows/{row['id']}", {"values": {"label": "x"}}),
            ("DELETE", f"{base}/rows/{row['id']}", None),
            ("POST", f"{base}/rows", {"rows": [{"values": {"text": "x"}}]}),
            ("PUT", f"{base}/columns", {"columns": {"text": "text"}}),
            ("GET", f"{base}/export", None),
            ("GET", f"{base}/rows/{row['id']}/thumbnail", None),
            ("POST", f"{base}/images/retry", None),
            ("DELETE", base, None),
        ]:
            response = await b.request(method, path, json=body)
            assert response.status_code == 404, (method, path, response.text)
            assert response.json()["error"] == "DatasetNotFound"
        assert (await b.get("/v1/datasets")).json()["items"] == []
        # Nothing of A's changed.
        after = (await a.get(base)).json()
        assert after["version"] == 1
        assert after["row_count"] == 120


async def test_delete_removes_rows_and_objects(platform, database_url):
    async with platform.org("acme") as client:
        dataset = await upload_and_wait(client, "d.csv", CSV)
        store = platform.apps["dataset"].state.store
        assert [info.key async for info in store.list(f"orgs/{client.org_id}/datasets/{dataset['id']}/")]
        assert (await client.delete(f"/v1/datasets/{dataset['id']}")).status_code == 204
        assert (await client.get(f"/v1/datasets/{dataset['id']}")).status_code == 404
        assert [info.key async for info in store.list(f"orgs/{client.org_id}/")] == []
        assert await table_count(database_url, "dataset_rows") == 0
        assert await table_count(database_url, "dataset_columns") == 0


async def table_count(database_url: str, table: str) -> int:
    # A separate engine: the service's own is bound to the server thread's event loop.
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            return int((await connection.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())
    finally:
        await engine.dispose()
