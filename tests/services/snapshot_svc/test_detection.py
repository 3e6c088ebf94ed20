"""Object-detection snapshots: every box checked against its image (inside it, of positive area, of a known
category), instances counted per class, images without boxes counted."""

from __future__ import annotations

import io
import json

import pyarrow.parquet as pq

from tests.services.dataset_svc.test_upload import upload_and_wait
from tests.services.snapshot_svc.test_snapshots import snapshot
from tests.support.detection import coco_zip, scenes

DETECTION = {"type": "object_detection", "input_column": "image", "boxes_column": "boxes", "heads": []}


async def test_a_detection_snapshot_checks_every_box_and_counts_instances(platform):
    made = scenes(12, empty_every=4)
    outside = {"id": 901, "image_id": 1, "category_id": 1, "bbox": [60, 60, 10, 10]}  # past a 64-pixel canvas
    empty = {"id": 902, "image_id": 2, "category_id": 1, "bbox": [5, 5, 0, 4]}
    unknown = {"id": 903, "image_id": 3, "category_id": 7, "bbox": [5, 5, 4, 4]}
    async with platform.org("acme") as client:
        dataset = await upload_and_wait(client, "coco.zip", coco_zip(made, [outside, empty, unknown]))
        # The inferred mapping is the one a detection snapshot needs: confirming it is enough.
        inferred = {column["name"]: column["inferred_type"] for column in dataset["columns"]}
        assert (
            await client.put(f"/v1/datasets/{dataset['id']}/columns", json={"columns": inferred})
        ).status_code == 200
        snap = await snapshot(client, dataset["id"], max_invalid_row_pct=30, **DETECTION)
        assert snap["status"] == "ready", snap
        assert snap["invalid_reasons"] == {"box_outside_image": 1, "box_empty": 1, "unknown_category": 1}
        assert snap["row_count"] == 9
        assert snap["boxes_column"] == "boxes"
        kept = [scene for index, scene in enumerate(made) if index >= 3]
        counts = {
            label: sum(1 for scene in kept for name, _ in scene.boxes if name == label) for label in ("bar", "square")
        }
        assert snap["heads"] == [
            {"name": "boxes", "multilabel": True, "classes": [{"name": k, "count": v} for k, v in counts.items()]}
        ]
        assert snap["stats"]["images_without_objects"] == sum(1 for scene in kept if not scene.boxes) == 3
        invalid = (await client.get(f"/v1/snapshots/{snap['id']}/invalid-rows")).json()["items"]
        assert sorted(row["reasons"][0] for row in invalid) == ["box_empty", "box_outside_image", "unknown_category"]

        table = pq.read_table(io.BytesIO((await client.get(f"/v1/snapshots/{snap['id']}/data")).content))
        assert table.column_names[:5] == ["row_id", "index", "image_sha256", "input_hash", "boxes"]
        first = table.to_pylist()[0]
        assert json.loads(first["boxes"]) == [
            {"label": label, "box": [float(value) for value in box]} for label, box in made[3].boxes
        ]


async def test_a_detection_snapshot_needs_its_two_columns_and_some_boxes(platform):
    made = scenes(4)
    async with platform.org("acme") as client:
        dataset = await upload_and_wait(client, "coco.zip", coco_zip(made))
        await client.put(f"/v1/datasets/{dataset['id']}/columns", json={"columns": {"image": "image"}})
        base = {"dataset_id": dataset["id"], "name": "s", **DETECTION}
        for change, detail in (
            ({"boxes_column": None}, "a object_detection snapshot needs input_column and boxes_column"),
            ({"boxes_column": "image"}, "boxes_column: column 'image' is mapped as 'image'; it must be boxes"),
            ({"heads": [{"column": "boxes"}]}, "object_detection snapshots have no label heads"),
        ):
            response = await client.post("/v1/snapshots", json=base | change)
            assert response.status_code == 422, response.text
            assert detail in response.json()["detail"], response.json()
        rows = await client.rows(dataset["id"])
        for row in rows:
            await client.patch(f"/v1/datasets/{dataset['id']}/rows/{row['id']}", json={"values": {"boxes": []}})
        failed = await snapshot(client, dataset["id"], **DETECTION)
        assert failed["status"] == "failed"
        assert "no image has a box in column 'boxes'" in failed["error"]
