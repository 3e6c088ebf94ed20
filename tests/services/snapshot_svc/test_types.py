"""Image classification and LLM snapshots."""

from __future__ import annotations

import io
import json
import zipfile

import pyarrow.parquet as pq

from tests.services.dataset_svc.test_upload import upload_and_wait
from tests.services.snapshot_svc.test_snapshots import snapshot
from tests.support.image_server import jpeg_bytes


async def test_image_snapshot_uses_stored_images_and_reports_unfetched_ones(platform):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        lines = ["image,label"]
        for index in range(24):
            lines.append(f"img/{index}.jpg,{'cat' if index % 2 else 'dog'}")
            archive.writestr(f"img/{index}.jpg", jpeg_bytes(20 + index, 10, seed=index))
        lines.append("img/missing.jpg,cat")
        archive.writestr("data.csv", "\n".join(lines) + "\n")
    async with platform.org("acme") as client:
        dataset = await upload_and_wait(client, "pets.zip", buffer.getvalue())
        await client.put(f"/v1/datasets/{dataset['id']}/columns", json={"columns": {"image": "image"}})
        snap = await snapshot(client, dataset["id"], type="image_classification", input_column="image")
        assert snap["status"] == "ready", snap
        assert snap["row_count"] == 24
        assert snap["invalid_reasons"] == {"image_not_fetched": 1}
        assert snap["stats"]["image_width"]["min"] == 20
        assert snap["stats"]["image_width"]["max"] == 43
        assert snap["stats"]["image_height"]["p50"] == 10
        rows = pq.read_table(io.BytesIO((await client.get(f"/v1/snapshots/{snap['id']}/data")).content)).to_pylist()
        assets = {row["index"]: row["assets"]["image"]["sha256"] for row in await client.rows(dataset["id"])}
        assert all(row["image_sha256"] == assets[row["index"]] for row in rows)

        # The snapshot reads its images from the dataset: the dataset (and its images) stay while it exists.
        refused = await client.delete(f"/v1/datasets/{dataset['id']}")
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"] == "DatasetInUse"
        assert snap["id"] in refused.json()["detail"]
        store = platform.apps["dataset"].state.store
        images = [info.key async for info in store.list(f"orgs/{client.org_id}/images/")]
        assert len(images) == 24
        assert (await client.delete(f"/v1/snapshots/{snap['id']}")).status_code == 204
        assert (await client.delete(f"/v1/datasets/{dataset['id']}")).status_code == 204
        assert [info.key async for info in store.list(f"orgs/{client.org_id}/images/")] == []


async def test_llm_snapshots_from_prompt_and_completion_or_messages(platform):
    records = [
        {
            "prompt": f"question {i}",
            "answer": f"answer {i}",
            "chat": [{"role": "user", "content": f"hi {i}"}, {"role": "assistant", "content": "hello"}],
        }
        for i in range(30)
    ]
    records.append({"prompt": "no answer", "answer": "", "chat": [{"role": "user"}]})
    content = ("\n".join(json.dumps(record) for record in records) + "\n").encode()
    async with platform.org("acme") as client:
        dataset = await upload_and_wait(client, "chat.jsonl", content)
        await client.put(
            f"/v1/datasets/{dataset['id']}/columns",
            json={"columns": {"prompt": "text", "answer": "text", "chat": "json"}},
        )
        pair = await snapshot(
            client,
            dataset["id"],
            type="llm",
            input_column=None,
            heads=[],
            prompt_column="prompt",
            completion_column="answer",
        )
        assert pair["status"] == "ready", pair
        assert pair["row_count"] == 30
        assert pair["invalid_reasons"] == {"missing_input": 1}
        rows = pq.read_table(io.BytesIO((await client.get(f"/v1/snapshots/{pair['id']}/data")).content)).to_pylist()
        assert (rows[0]["prompt"], rows[0]["completion"]) == ("question 0", "answer 0")

        chat = await snapshot(client, dataset["id"], type="llm", input_column=None, heads=[], messages_column="chat")
        assert chat["status"] == "ready", chat
        assert chat["invalid_reasons"] == {"invalid_messages": 1}
        rows = pq.read_table(io.BytesIO((await client.get(f"/v1/snapshots/{chat['id']}/data")).content)).to_pylist()
        assert json.loads(rows[0]["messages"])[0] == {"role": "user", "content": "hi 0"}
