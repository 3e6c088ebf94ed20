"""A dataset whose ingestion was cut off (the process stopped) is ingested again from its stored original
when dataset-svc starts."""

from __future__ import annotations

from sqlalchemy import text

from automl_common.db import create_engine
from tests.services.dataset_svc.test_upload import upload_and_wait
from tests.support.platform import run_platform

CSV = b"text,label\n" + b"".join(f"m{index},{'a' if index % 2 else 'b'}\n".encode() for index in range(50))


async def test_interrupted_ingestion_resumes_at_start_up(tmp_path, database_url):
    urls = {"dataset": database_url, "gateway": database_url}
    with run_platform(tmp_path, urls) as platform:
        async with platform.org("acme") as client:
            dataset = await upload_and_wait(client, "d.csv", CSV)
            org_key = client.admin_key
    # Simulate a crash half-way: status back to processing, half the rows gone.
    engine = create_engine(database_url)
    async with engine.begin() as connection:
        await connection.execute(
            text("UPDATE datasets SET status = 'processing', row_count = 0 WHERE id = :id"), {"id": dataset["id"]}
        )
        await connection.execute(
            text('DELETE FROM dataset_rows WHERE dataset_id = :id AND "index" >= 25'), {"id": dataset["id"]}
        )
    await engine.dispose()

    with run_platform(tmp_path, urls) as platform:
        from tests.support.platform import OrgClient

        async with OrgClient(platform.gateway_url, dataset["id"], org_key) as client:
            resumed = await client.wait_dataset(dataset["id"])
            assert resumed["status"] == "ready"
            assert resumed["row_count"] == 50
            rows = await client.rows(dataset["id"])
            assert [row["index"] for row in rows] == list(range(50))
