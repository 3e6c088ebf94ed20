from __future__ import annotations

import io
from typing import Any

import httpx
import pyarrow.parquet as pq

from tests.services.snapshot_svc.test_snapshots import ready_dataset, snapshot, spam_csv
from tests.support.api import INTERNAL_TOKEN


def multi_head_csv() -> bytes:
    lines = ["text,label,topic"]
    for index in range(300):
        label = ["ham", "spam", "promo"][index % 3] if index % 10 else "rare"  # 'rare': 30 rows
        topic = ["money", "social"][index % 2] if index % 4 else ""
        lines.append(f"text {index},{label},{topic}")
    return ("\n".join(lines) + "\n").encode()


async def split_rows(client, snapshot_id: str, split: dict[str, Any]) -> list[bool]:
    data = (await client.get(f"/v1/snapshots/{snapshot_id}/splits/{split['id']}/data")).content
    flags: list[bool] = pq.read_table(io.BytesIO(data)).column("test").to_pylist()
    return flags


async def test_same_seed_same_split_other_seed_other_split_and_stratified(platform):
    async with platform.org("acme") as client:
        dataset = await ready_dataset(client, multi_head_csv(), {"text": "text", "topic": "label"})
        snap = await snapshot(client, dataset["id"], heads=[{"column": "label"}, {"column": "topic"}])
        assert snap["status"] == "ready", snap

        first = await client.post(f"/v1/snapshots/{snap['id']}/splits", json={"test_pct": 20, "seed": 7})
        assert first.status_code == 201, first.text
        split = first.json()
        again = (await client.post(f"/v1/snapshots/{snap['id']}/splits", json={"test_pct": 20, "seed": 7})).json()
        other = (await client.post(f"/v1/snapshots/{snap['id']}/splits", json={"test_pct": 20, "seed": 8})).json()
        assert again["id"] == split["id"]
        rows_7 = await split_rows(client, snap["id"], split)
        rows_8 = await split_rows(client, snap["id"], other)
        assert rows_7 != rows_8
        assert split["test_rows"] == sum(rows_7) == 60
        assert split["train_rows"] == 240
        # Recomputed from scratch (a fresh snapshot of the same data) the split is identical.
        twin = await snapshot(client, dataset["id"], heads=[{"column": "label"}, {"column": "topic"}])
        twin_split = (await client.post(f"/v1/snapshots/{twin['id']}/splits", json={"test_pct": 20, "seed": 7})).json()
        assert await split_rows(client, twin["id"], twin_split) == rows_7

        for head in split["heads"]:
            for cls in head["classes"]:
                assert cls["train"] >= 1 and cls["test"] >= 1, (head["name"], cls)
                share = cls["test"] / (cls["train"] + cls["test"])
                assert 0.1 <= share <= 0.3, (head["name"], cls, share)


async def test_duplicates_are_counted_and_split_together(platform):
    """Exact duplicate texts never straddle train and test; the snapshot counts them, and the groups whose
    copies disagree on the label."""
    async with platform.org("acme") as client:
        lines = ["text,label"]
        for index in range(200):
            text = f"message {index % 50}"  # 50 texts, each 4 times
            label = "spam" if index % 50 < 25 else "ham"
            if index == 199:
                label = "spam" if label == "ham" else "ham"  # one copy disagrees
            lines.append(f"{text},{label}")
        lines += [f"unique {index},{'spam' if index % 2 else 'ham'}" for index in range(40)]
        dataset = await ready_dataset(client, ("\n".join(lines) + "\n").encode())
        snap = await snapshot(client, dataset["id"], heads=[{"column": "label"}])
        assert snap["status"] == "ready", snap
        assert snap["stats"]["duplicates"] == {"rows": 150, "groups": 50, "conflicting_groups": 1}
        data = await client.get(f"/v1/snapshots/{snap['id']}/data")
        texts = pq.read_table(io.BytesIO(data.content)).column("text").to_pylist()
        for seed in (1, 2, 3):
            split = (
                await client.post(f"/v1/snapshots/{snap['id']}/splits", json={"test_pct": 20, "seed": seed})
            ).json()
            flags = await split_rows(client, snap["id"], split)
            parts: dict[str, set[bool]] = {}
            for text, flag in zip(texts, flags, strict=True):
                parts.setdefault(text, set()).add(flag)
            assert all(len(where) == 1 for where in parts.values()), "a duplicate text is in both parts"
            assert 0.1 <= sum(flags) / len(flags) <= 0.3, sum(flags)
            assert split["test_rows"] == sum(flags)


async def test_a_class_with_two_examples_is_in_both_parts(platform):
    async with platform.org("acme") as client:
        lines = ["text,label"] + [f"t{i},{'a' if i % 2 else 'b'}" for i in range(100)] + ["x1,tiny", "x2,tiny"]
        dataset = await ready_dataset(client, ("\n".join(lines) + "\n").encode())
        from tests.support.platform import run_platform  # noqa: F401 - the platform fixture already runs

        snap = await client.post(
            "/v1/snapshots",
            json={
                "dataset_id": dataset["id"],
                "name": "s",
                "type": "text_classification",
                "input_column": "text",
                "heads": [{"column": "label"}],
            },
        )
        snap_id = snap.json()["id"]
        ready = await client.wait_snapshot(snap_id)
        # 'tiny' has 2 examples, under the default minimum of 10: it is left out of the snapshot.
        assert {c["name"] for c in ready["heads"][0]["classes"]} == {"a", "b"}
        split = (await client.post(f"/v1/snapshots/{snap_id}/splits", json={"test_pct": 5, "seed": 1})).json()
        assert split["test_rows"] == 5
        assert all(c["test"] >= 1 and c["train"] >= 1 for c in split["heads"][0]["classes"])


async def test_split_validation(platform):
    async with platform.org("acme") as client:
        dataset = await ready_dataset(client, spam_csv(60))
        snap = await snapshot(client, dataset["id"])
        for body in ({"test_pct": 0}, {"test_pct": 100}, {"test_pct": "x"}, {"seed": -1, "test_pct": 10}, {}):
            response = await client.post(f"/v1/snapshots/{snap['id']}/splits", json=body)
            assert response.status_code == 422, body
        assert (
            await client.get(f"/v1/snapshots/{snap['id']}/splits/split_00000000000000000000000000")
        ).status_code == 404


async def test_test_snapshot_compatibility_and_leakage(platform):
    async with platform.org("acme") as client:
        train_dataset = await ready_dataset(client, spam_csv(60))
        train = await snapshot(client, train_dataset["id"])
        # The test set repeats 5 of the train texts (with other spacing and case): leakage.
        lines = ["text,label"] + [f"other text {i},{'spam' if i % 2 else 'ham'}" for i in range(20)]
        lines += [f"MESSAGE  number {i},ham" for i in range(5)]
        test_dataset = await ready_dataset(client, ("\n".join(lines) + "\n").encode())
        test = await snapshot(client, test_dataset["id"])
        report = (
            await client.get(f"/v1/snapshots/{train['id']}/compatibility", params={"test_snapshot_id": test["id"]})
        ).json()
        assert report == {"compatible": True, "problems": [], "leakage": {"duplicate_rows": 5}}

        other_lines = ["text,label"] + [f"t {i},{['spam', 'ham', 'promo'][i % 3]}" for i in range(60)]
        other_dataset = await ready_dataset(client, ("\n".join(other_lines) + "\n").encode())
        other = await snapshot(client, other_dataset["id"])
        bad = (
            await client.get(f"/v1/snapshots/{train['id']}/compatibility", params={"test_snapshot_id": other["id"]})
        ).json()
        assert bad["compatible"] is False
        assert bad["problems"] == ["heads.label: test classes ['promo'] are not among the train classes"]

        topic_dataset = await ready_dataset(client, spam_csv(60), {"text": "text", "topic": "label"})
        topic = await snapshot(client, topic_dataset["id"], heads=[{"column": "topic"}], max_invalid_row_pct=50)
        mismatch_response = await client.get(
            f"/v1/snapshots/{train['id']}/compatibility", params={"test_snapshot_id": topic["id"]}
        )
        mismatch = mismatch_response.json()
        assert mismatch_response.status_code == 200, mismatch
        assert mismatch["problems"] == ["heads: train has ['label'], test has ['topic']"]


async def test_a_snapshot_used_by_a_model_cannot_be_deleted(platform):
    async with platform.org("acme") as client:
        dataset = await ready_dataset(client, spam_csv(60))
        snap = await snapshot(client, dataset["id"])
        internal = httpx.AsyncClient(
            base_url=platform.service_urls["snapshot"],
            headers={"X-Internal-Token": INTERNAL_TOKEN, "X-Org-Id": client.org_id},
        )
        async with internal:
            assert (
                await internal.put(f"/internal/snapshots/{snap['id']}/references/model_00000000000000000000000001")
            ).status_code == 204
            assert (
                await internal.put(f"/internal/snapshots/{snap['id']}/references/model_00000000000000000000000001")
            ).status_code == 204
            refused = await client.delete(f"/v1/snapshots/{snap['id']}")
            assert refused.status_code == 409
            assert refused.json()["error"] == "SnapshotInUse"
            assert "model_00000000000000000000000001" in refused.json()["detail"]
            # The internal endpoints are not reachable through the gateway.
            assert (await client.put(f"/internal/snapshots/{snap['id']}/references/model_2")).status_code == 404
            assert (
                await internal.delete(f"/internal/snapshots/{snap['id']}/references/model_00000000000000000000000001")
            ).status_code == 204
        assert (await client.delete(f"/v1/snapshots/{snap['id']}")).status_code == 204
        assert (await client.get(f"/v1/snapshots/{snap['id']}")).status_code == 404
        store = platform.apps["snapshot"].state.store
        assert [info.key async for info in store.list(f"orgs/{client.org_id}/snapshots/{snap['id']}/")] == []
