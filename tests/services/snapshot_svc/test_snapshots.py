from __future__ import annotations

import io
import json
from typing import Any

import pyarrow.parquet as pq

from tests.services.dataset_svc.test_upload import upload_and_wait


def spam_csv(rows: int = 60, extra: str = "") -> bytes:
    lines = ["text,label,topic"]
    for index in range(rows):
        label = "spam" if index % 3 == 0 else "ham"
        topic = ["money", "social", ""][index % 3]
        lines.append(f"message number {index},{label},{topic}")
    return ("\n".join(lines) + "\n" + extra).encode()


async def ready_dataset(client, content: bytes, mapping: dict[str, str] | None = None) -> dict[str, Any]:
    dataset = await upload_and_wait(client, "d.csv", content)
    assert dataset["status"] == "ready", dataset
    mapped = await client.put(f"/v1/datasets/{dataset['id']}/columns", json={"columns": mapping or {"text": "text"}})
    assert mapped.status_code == 200, mapped.text
    body: dict[str, Any] = mapped.json()
    return body


async def snapshot(client, dataset_id: str, **body: Any) -> dict[str, Any]:
    payload = {
        "dataset_id": dataset_id,
        "name": "snap",
        "type": "text_classification",
        "input_column": "text",
        "heads": [{"column": "label"}],
    } | body
    response = await client.post("/v1/snapshots", json=payload)
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "creating"
    ready: dict[str, Any] = await client.wait_snapshot(response.json()["id"])
    return ready


async def test_snapshot_of_a_dataset_with_heads_and_partial_labels(platform):
    async with platform.org("acme") as client:
        dataset = await ready_dataset(client, spam_csv(60), {"text": "text", "topic": "label"})
        snap = await snapshot(client, dataset["id"], heads=[{"column": "label"}, {"column": "topic"}])
        assert snap["status"] == "ready", snap
        assert snap["row_count"] == 60
        assert snap["invalid_row_count"] == 0
        assert snap["dataset_version"] == dataset["version"]
        assert snap["heads"] == [
            {
                "name": "label",
                "multilabel": False,
                "classes": [{"name": "ham", "count": 40}, {"name": "spam", "count": 20}],
            },
            {
                "name": "topic",
                "multilabel": False,
                "classes": [{"name": "money", "count": 20}, {"name": "social", "count": 20}],
            },
        ]
        assert len(snap["sha256"]) == 64
        assert snap["stats"]["text_length"]["min"] == len("message number 0")
        assert snap["stats"]["text_length"]["max"] == len("message number 59")
        data = await client.get(f"/v1/snapshots/{snap['id']}/data")
        table = pq.read_table(io.BytesIO(data.content))
        assert table.num_rows == 60
        rows = table.to_pylist()
        assert rows[2]["text"] == "message number 2"
        assert rows[2]["label:topic"] is None  # partial labels: row 2 teaches the label head only
        assert rows[0]["label:label"] == "spam"
        manifest = (await client.get(f"/v1/snapshots/{snap['id']}/manifest")).json()
        assert manifest["sha256"] == snap["sha256"]
        assert manifest["dataset_version"] == dataset["version"]
        assert manifest["heads"] == snap["heads"]


async def test_every_validation_rule_has_its_reason(platform):
    long_text = "x" * 21000
    extra = (
        "\n".join(
            [
                ",spam,money",  # missing input
                f"{long_text},ham,money",  # text too long
                "no label at all,,",  # no label
                "rare class,eggs,money",  # a class with fewer than 10 examples
                "broken row",  # invalid in the dataset itself (ragged)
            ]
        )
        + "\n"
    )
    async with platform.org("acme") as client:
        dataset = await ready_dataset(client, spam_csv(60, extra), {"text": "text", "topic": "label"})
        snap = await snapshot(client, dataset["id"], max_invalid_row_pct=20)
        assert snap["status"] == "ready", snap
        assert snap["invalid_reasons"] == {
            "missing_input": 1,
            "text_too_long": 1,
            "no_label": 1,
            "class_too_rare": 1,
            "invalid_in_dataset": 1,
        }
        assert snap["row_count"] == 60
        invalid = (await client.get(f"/v1/snapshots/{snap['id']}/invalid-rows")).json()["items"]
        assert [row["reasons"] for row in invalid] == [
            ["missing_input"],
            ["text_too_long"],
            ["no_label"],
            ["class_too_rare"],
            ["invalid_in_dataset"],
        ]
        assert [row["index"] for row in invalid] == [60, 61, 62, 63, 64]


async def test_too_many_invalid_rows_fails_and_leaves_nothing(platform):
    async with platform.org("acme") as client:
        extra = "".join(",spam,money\n" for _ in range(10))
        dataset = await ready_dataset(client, spam_csv(60, extra), {"text": "text"})
        snap = await snapshot(client, dataset["id"])
        assert snap["status"] == "failed"
        assert "10 of 70 rows are invalid (14.3%)" in snap["error"]
        assert "missing_input: 10" in snap["error"]
        assert (await client.get(f"/v1/snapshots/{snap['id']}/invalid-rows")).json()["items"] == []
        store = platform.apps["snapshot"].state.store
        assert [info.key async for info in store.list(f"orgs/{client.org_id}/snapshots/")] == []
        assert (await client.get(f"/v1/snapshots/{snap['id']}/data")).status_code == 409


async def test_a_head_needs_two_classes_with_enough_examples(platform):
    async with platform.org("acme") as client:
        content = b"text,label\n" + b"".join(f"m{i},{'a' if i < 30 else 'b'}\n".encode() for i in range(35))
        dataset = await ready_dataset(client, content)
        snap = await snapshot(client, dataset["id"], max_invalid_row_pct=50)
        assert snap["status"] == "failed"
        assert "head 'label' has fewer than 2 classes with at least 10 examples" in snap["error"]
        assert "'b': 5" in snap["error"]


async def test_multilabel_heads_json_and_separator(platform):
    rows = []
    for index in range(40):
        tags = ["sale", "new"] if index % 2 else ["sale"]
        rows.append({"text": f"item {index}", "tags": tags, "piped": "|".join(tags)})
    rows.append({"text": "bad tags", "tags": "not json [", "piped": "sale"})
    content = ("\n".join(json.dumps(row) for row in rows) + "\n").encode()
    async with platform.org("acme") as client:
        dataset = await upload_and_wait(client, "items.jsonl", content)
        await client.put(
            f"/v1/datasets/{dataset['id']}/columns", json={"columns": {"tags": "json", "piped": "text", "text": "text"}}
        )
        snap = await snapshot(
            client,
            dataset["id"],
            heads=[{"column": "tags", "multilabel": True}, {"column": "piped", "multilabel": True, "separator": "|"}],
        )
        assert snap["status"] == "ready", snap
        assert snap["heads"][0] == {
            "name": "tags",
            "multilabel": True,
            "classes": [{"name": "new", "count": 20}, {"name": "sale", "count": 40}],
        }
        assert snap["heads"][1]["classes"] == [{"name": "new", "count": 20}, {"name": "sale", "count": 40}]
        assert snap["invalid_reasons"] == {"unparseable_multilabel": 1}
        table = pq.read_table(io.BytesIO((await client.get(f"/v1/snapshots/{snap['id']}/data")).content))
        assert table.to_pylist()[1]["label:tags"] == ["new", "sale"]


async def test_requests_are_checked_up_front(platform):
    async with platform.org("acme") as client:
        unconfirmed = await upload_and_wait(client, "d.csv", spam_csv(30))
        response = await client.post(
            "/v1/snapshots",
            json={
                "dataset_id": unconfirmed["id"],
                "name": "s",
                "type": "text_classification",
                "input_column": "text",
                "heads": [{"column": "label"}],
            },
        )
        assert response.status_code == 409
        assert response.json()["error"] == "MappingNotConfirmed"
        await client.put(f"/v1/datasets/{unconfirmed['id']}/columns", json={"columns": {"text": "text"}})
        cases: list[tuple[dict[str, Any], int, str]] = [
            ({"input_column": "nope"}, 422, "input_column: the dataset has no column 'nope'"),
            ({"input_column": "label"}, 422, "input column cannot also be a head"),
            (
                {"input_column": "label", "heads": [{"column": "text"}]},
                422,
                "column 'label' is mapped as 'label'; it must be text",
            ),
            ({"type": "image_classification"}, 422, "it must be image"),
            ({"heads": []}, 422, "at least one head"),
            ({"heads": [{"column": "label"}, {"column": "label"}]}, 422, "different column"),
            ({"dataset_id": "ds_00000000000000000000000000"}, 404, "not found"),
            ({"type": "llm"}, 422, "prompt_column"),
        ]
        base = {
            "dataset_id": unconfirmed["id"],
            "name": "s",
            "type": "text_classification",
            "input_column": "text",
            "heads": [{"column": "label"}],
        }
        for change, status, detail in cases:
            response = await client.post("/v1/snapshots", json=base | change)
            assert response.status_code == status, (change, response.text)
            assert detail in response.json()["detail"], (change, response.json())
        assert (await client.get("/v1/snapshots")).json()["items"] == []


async def test_editing_the_dataset_never_changes_the_snapshot(platform):
    async with platform.org("acme") as client:
        dataset = await ready_dataset(client, spam_csv(60))
        snap = await snapshot(client, dataset["id"])
        before = (await client.get(f"/v1/snapshots/{snap['id']}/data")).content
        rows = await client.rows(dataset["id"])
        await client.patch(
            f"/v1/datasets/{dataset['id']}/rows/{rows[0]['id']}", json={"values": {"label": "ham", "text": "changed"}}
        )
        await client.delete(f"/v1/datasets/{dataset['id']}/rows/{rows[1]['id']}")
        await client.post(
            f"/v1/datasets/{dataset['id']}/rows", json={"rows": [{"values": {"text": "new", "label": "spam"}}]}
        )
        after = (await client.get(f"/v1/snapshots/{snap['id']}")).json()
        assert after["sha256"] == snap["sha256"]
        assert after["row_count"] == 60
        assert after["dataset_version"] == dataset["version"]
        assert (await client.get(f"/v1/snapshots/{snap['id']}/data")).content == before
        # A new snapshot sees the edits.
        newer = await snapshot(client, dataset["id"])
        assert newer["sha256"] != snap["sha256"]
        assert newer["dataset_version"] == dataset["version"] + 3


async def test_org_isolation(platform):
    async with platform.org("org-a") as a, platform.org("org-b") as b:
        dataset = await ready_dataset(a, spam_csv(60))
        snap = await snapshot(a, dataset["id"])
        steal = await b.post(
            "/v1/snapshots",
            json={
                "dataset_id": dataset["id"],
                "name": "s",
                "type": "text_classification",
                "input_column": "text",
                "heads": [{"column": "label"}],
            },
        )
        assert steal.status_code == 404
        for path in ("", "/invalid-rows", "/data", "/manifest", f"/compatibility?test_snapshot_id={snap['id']}"):
            response = await b.get(f"/v1/snapshots/{snap['id']}{path}")
            assert response.status_code == 404, path
        assert (await b.post(f"/v1/snapshots/{snap['id']}/splits", json={"test_pct": 20})).status_code == 404
        assert (await b.delete(f"/v1/snapshots/{snap['id']}")).status_code == 404
        assert (await b.get("/v1/snapshots")).json()["items"] == []
        assert (await a.get(f"/v1/snapshots/{snap['id']}")).status_code == 200
