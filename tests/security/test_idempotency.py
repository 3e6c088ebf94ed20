"""Retrying a create with the same ``Idempotency-Key`` is safe: the same body gets the first answer back (and
creates nothing more), another body or path a 422, a key still in use a 409. Multipart uploads count as the
same body though the client picks a new boundary for each retry."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest

from automl_common.db import utcnow
from gateway.models import IdempotencyRecord
from tests.services.gateway.conftest import LiveStack, echo_url, live
from tests.support.api import bearer, deployment_key

__all__ = ["echo_url", "live"]

CSV = b"text,label\n" + b"".join(f"row {i},{'a' if i % 2 else 'b'}\n".encode() for i in range(40))


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
async def test_a_retried_upload_creates_one_dataset(platform):
    async with platform.org("retry") as client:
        first = await client.upload("a.csv", CSV, name="once", headers={"Idempotency-Key": "upload-1"})
        second = await client.upload("a.csv", CSV, name="once", headers={"Idempotency-Key": "upload-1"})
        assert first.status_code == 201, first.text
        assert second.status_code == 201, second.text
        assert second.json()["id"] == first.json()["id"]
        assert second.headers["idempotent-replayed"] == "true"
        assert "idempotent-replayed" not in first.headers
        listed = (await client.get("/v1/datasets")).json()["items"]
        assert [item["id"] for item in listed] == [first.json()["id"]]

        other_body = await client.upload("a.csv", CSV + b"one more,a\n", headers={"Idempotency-Key": "upload-1"})
        assert other_body.status_code == 422
        assert other_body.json()["error"] == "IdempotencyKeyReused"
        other_path = await client.post("/v1/snapshots", json={}, headers={"Idempotency-Key": "upload-1"})
        assert other_path.status_code == 422
        assert other_path.json()["error"] == "IdempotencyKeyReused"
        assert len((await client.get("/v1/datasets")).json()["items"]) == 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_keys_are_per_org_and_a_validation_answer_is_replayed(platform):
    async with platform.org("one") as one, platform.org("two") as two:
        body = {
            "dataset_id": "ds_" + "0" * 26,
            "name": "s",
            "type": "text_classification",
            "input_column": "t",
            "heads": [{"column": "label"}],
        }
        first = await one.post("/v1/snapshots", json=body, headers={"Idempotency-Key": "k"})
        again = await one.post("/v1/snapshots", json=body, headers={"Idempotency-Key": "k"})
        assert first.status_code == again.status_code == 404, first.text
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json()["detail"] == first.json()["detail"]
        # Another org's same key is its own.
        elsewhere = await two.upload("a.csv", CSV, headers={"Idempotency-Key": "k"})
        assert elsewhere.status_code == 201, elsewhere.text


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_key_in_use_is_a_409_and_an_abandoned_one_is_taken_over(platform):
    database = platform.apps["gateway"].state.database
    async with platform.org("busy") as client:
        me = (await client.get("/v1/orgs/me")).json()
        now = utcnow()
        async with database.session() as session:
            for key, updated in (("running", now), ("abandoned", now - timedelta(minutes=5))):
                session.add(
                    IdempotencyRecord(
                        org_id=me["id"],
                        key=key,
                        method="POST",
                        path="/v1/datasets",
                        state="in_progress",
                        created_at=updated,
                        updated_at=updated,
                    )
                )
        running = await client.upload("a.csv", CSV, headers={"Idempotency-Key": "running"})
        assert running.status_code == 409
        assert running.json()["error"] == "IdempotencyKeyInProgress"
        taken_over = await client.upload("a.csv", CSV, headers={"Idempotency-Key": "abandoned"})
        assert taken_over.status_code == 201, taken_over.text
        assert len((await client.get("/v1/datasets")).json()["items"]) == 1


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
async def test_concurrent_retries_create_one_resource(platform):
    async with platform.org("race") as client:
        answers = await asyncio.gather(
            *(client.upload("a.csv", CSV, headers={"Idempotency-Key": "race"}) for _ in range(8))
        )
        statuses = sorted(answer.status_code for answer in answers)
        assert set(statuses) <= {201, 409}, [a.text for a in answers]
        created = {answer.json()["id"] for answer in answers if answer.status_code == 201}
        assert len(created) == 1
        assert len((await client.get("/v1/datasets")).json()["items"]) == 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_new_key_secret_is_never_stored_for_replay(platform):
    async with platform.org("keys") as client:
        first = await client.post("/v1/keys", json={"name": "ci"}, headers={"Idempotency-Key": "key-1"})
        again = await client.post("/v1/keys", json={"name": "ci"}, headers={"Idempotency-Key": "key-1"})
        assert first.status_code == 201
        assert again.status_code == 409
        assert again.json()["error"] == "IdempotentSecretNotReplayed"
        assert first.json()["key"] not in again.text
        assert first.json()["id"] in again.json()["detail"]  # it names the key it made, to revoke or keep
        assert first.json()["prefix"] in again.json()["detail"]
        names = [key["name"] for key in (await client.get("/v1/keys")).json()["items"]]
        assert names.count("ci") == 1
    async with platform.apps["gateway"].state.database.session() as session:
        bodies = [record.body for record in (await session.execute(IdempotencyRecord.__table__.select())).all()]
    assert all(body is None or first.json()["key"].encode() not in body for body in bodies)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_malformed_keys_are_refused(platform):
    async with platform.org("bad") as client:
        for key in ("", "has space", "x" * 256, "ünïcode".encode()):
            response = await client.upload("a.csv", CSV, headers={"Idempotency-Key": key})
            assert response.status_code == 422, (key, response.text)
        assert (await client.get("/v1/datasets")).json()["items"] == []


async def test_a_deployment_scoped_key_never_gets_an_answer_its_scope_could_not(live: LiveStack) -> None:
    """The finding: the idempotency layer ran before the scope check, so the same body with an admin's
    Idempotency-Key handed a deployment-scoped key the admin's stored answer (201)."""
    async with httpx.AsyncClient(base_url=live.gateway_url) as client:
        scoped = await deployment_key(client, live.admin_key, "dep_00000000000000000000000001")
        body, idempotent = b"the admin's upload", {"Idempotency-Key": "admins-own"}
        first = await client.post("/v1/echo/upload", content=body, headers=bearer(live.admin_key) | idempotent)
        assert first.status_code == 200, first.text
        replayed = await client.post("/v1/echo/upload", content=body, headers=bearer(scoped) | idempotent)
        assert replayed.status_code == 403, replayed.text
        assert replayed.json()["error"] == "Forbidden"
        assert "idempotent-replayed" not in replayed.headers
        again = await client.post("/v1/echo/upload", content=body, headers=bearer(live.admin_key) | idempotent)
        assert again.headers["idempotent-replayed"] == "true"  # the admin's own retry still replays
