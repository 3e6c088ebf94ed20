"""Per-org quotas (keys, snapshot builds, stored bytes, playground queries) are settings, refused with 429
``OrgQuotaExceeded`` naming the quota and its setting, enforced under concurrency, and per org: one org at its
limit does not stop another. (Deployments, replicas, tasks, trainings and batches: tests/services/inference_svc.)"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from automl_common.db import Database, utcnow
from automl_common.ids import new_id
from gateway.models import PlaygroundUsage
from snapshot_svc.models import Snapshot
from tests.support.api import bearer, create_org
from tests.support.echo import deployments_stand_in
from tests.support.platform import Platform, run_platform
from tests.support.servers import running_server
from tests.support.waiting import until

CSV = b"text,label\n" + b"".join(f"row {i},{'a' if i % 2 else 'b'}\n".encode() for i in range(120))


@pytest.fixture
def tight(tmp_path: Path, database_url: str) -> Iterator[Platform]:
    with run_platform(
        tmp_path,
        {"dataset": database_url, "gateway": database_url},
        gateway_overrides={"max_keys_per_org": 4},
        snapshot_overrides={"max_building_snapshots_per_org": 1},
        dataset_overrides={"max_storage_bytes_per_org": 2 * len(CSV) + 10},
    ) as running:
        yield running


async def test_keys_up_to_the_limit_under_concurrency(tight):
    async with tight.org("keys") as client, tight.org("other") as other:
        answers = await asyncio.gather(*(client.post("/v1/keys", json={"name": f"k{i}"}) for i in range(10)))
        statuses = sorted(answer.status_code for answer in answers)
        assert statuses == [201] * 3 + [429] * 7  # the org's first admin key is the fourth
        refused = next(answer for answer in answers if answer.status_code == 429).json()
        assert refused["error"] == "KeyLimitReached"
        assert "max_keys_per_org" in refused["detail"]
        listed = (await client.get("/v1/keys")).json()["items"]
        assert len(listed) == 4
        # Revoking frees a place; another org was never affected.
        assert (await client.delete(f"/v1/keys/{listed[-1]['id']}")).status_code == 200
        assert (await client.post("/v1/keys", json={"name": "again"})).status_code == 201
        assert (await other.post("/v1/keys", json={"name": "mine"})).status_code == 201


async def test_stored_bytes_per_org(tight):
    store = tight.apps["dataset"].state.store
    async with tight.org("bytes") as client, tight.org("other") as other:
        for _ in range(2):
            assert (await client.upload("a.csv", CSV)).status_code == 201
        third = await client.upload("a.csv", CSV)
        assert third.status_code == 429, third.text
        assert third.json()["error"] == "OrgQuotaExceeded"
        assert "AUTOML_DATASET_MAX_STORAGE_BYTES_PER_ORG" in third.json()["detail"]
        assert len((await client.get("/v1/datasets")).json()["items"]) == 2
        keys = [info.key async for info in store.list(f"orgs/{client.org_id}/")]
        assert len([key for key in keys if key.endswith("source")]) == 2 or len(keys) == 2, keys
        assert (await other.upload("a.csv", CSV)).status_code == 201


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
async def test_snapshot_builds_per_org(tight):
    async with tight.org("snaps") as client, tight.org("other") as other:
        created = await client.upload("a.csv", CSV)
        dataset = await client.wait_dataset(created.json()["id"])
        assert (
            await client.put(f"/v1/datasets/{dataset['id']}/columns", json={"columns": {"text": "text"}})
        ).status_code == 200
        body = {
            "dataset_id": dataset["id"],
            "name": "s",
            "type": "text_classification",
            "input_column": "text",
            "heads": [{"column": "label"}],
        }
        # A build of this org still running (as if a large one), made straight in snapshot-svc's database.
        # (Its own engine: the app's runs on the server's event loop.)
        database = Database.from_url(tight.apps["snapshot"].state.settings.resolved_database_url)
        async with database.session() as session:
            session.add(
                Snapshot(
                    id=new_id("snap"),
                    org_id=client.org_id,
                    name="big",
                    dataset_id=dataset["id"],
                    type="text_classification",
                    spec={},
                    status="creating",
                    created_at=utcnow(),
                )
            )
        await database.dispose()
        refused = await client.post("/v1/snapshots", json=body)
        assert refused.status_code == 429, refused.text
        assert "AUTOML_SNAPSHOT_MAX_BUILDING_SNAPSHOTS_PER_ORG" in refused.json()["detail"]
        theirs = await other.upload("a.csv", CSV)
        their_dataset = await other.wait_dataset(theirs.json()["id"])
        assert (
            await other.put(f"/v1/datasets/{their_dataset['id']}/columns", json={"columns": {"text": "text"}})
        ).status_code == 200
        accepted = await other.post("/v1/snapshots", json=body | {"dataset_id": their_dataset["id"]})
        assert accepted.status_code == 201, accepted.text


async def test_a_playground_query_for_no_model_leaves_no_quota_row(gateway_factory: Any, database_url: str) -> None:
    """The finding: a playground quota row was stored for any well-formed model id before the 404."""
    with running_server(deployments_stand_in()) as inference_url:  # it knows no model: every playground call 404s
        gateway = await gateway_factory(database_url, inference_url=inference_url)
        admin = bearer((await create_org(gateway))["admin_key"])
        for index in range(5):
            model_id = f"model_{index:026d}"
            answer = await gateway.post(f"/v1/models/{model_id}/playground", json={"input": "x"}, headers=admin)
            assert answer.status_code == 404, answer.text
            chat = await gateway.post(
                f"/v1/models/{model_id}/playground/chat/completions",
                json={"messages": [{"role": "user", "content": "hi"}]},
                headers=admin,
            )
            assert chat.status_code == 404, chat.text
        async with gateway.app.state.database.session() as session:
            rows = (await session.execute(select(PlaygroundUsage))).scalars().all()
        assert rows == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_an_org_reads_a_bounded_number_of_exports_at_once(tmp_path: Path, database_url: str) -> None:
    """The finding: 16 exports opened and left unread added 628 MiB to dataset-svc (each holds a page)."""
    rows = b"text,label\n" + b"".join(
        b"row %d with some words in it to make it longer,%s\n" % (i, b"ab"[i % 2 : i % 2 + 1]) for i in range(60_000)
    )
    with run_platform(
        tmp_path,
        {"dataset": database_url, "gateway": database_url},
        dataset_overrides={"max_exports_per_org": 2},
    ) as platform:
        async with platform.org("reader") as client, platform.org("other") as other:
            created = await client.upload("big.csv", rows)
            assert created.status_code == 201, created.text
            dataset = await client.wait_dataset(created.json()["id"])
            path = f"/v1/datasets/{dataset['id']}/export"
            async with contextlib.AsyncExitStack() as held:
                for _ in range(2):  # opened, never read: the export stalls once the buffers fill
                    opened = await held.enter_async_context(client.stream("GET", path))
                    assert opened.status_code == 200
                refused = await client.get(path)
                assert refused.status_code == 429, refused.text[:200]
                assert refused.json()["error"] == "ExportsBusy" and "max_exports_per_org" in refused.json()["detail"]
                elsewhere = await other.upload("small.csv", CSV)  # another org is not held back
                assert elsewhere.status_code == 201

            # The readers went away: their slots came back.
            async def served() -> bool:
                return (await client.get(path)).status_code == 200

            await until(served, "the export slots were never given back")
