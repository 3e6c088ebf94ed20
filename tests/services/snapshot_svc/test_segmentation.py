"""Semantic-segmentation data: a zip of images/, masks/ and labels.txt becomes one row per image with its mask
and class names (columns inferred, so confirming the mapping is enough); a snapshot checks every mask against
its image (size) and the classes (values), and counts each class's pixel share and images."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pyarrow.parquet as pq
from PIL import Image

from automl_common import palette
from tests.services.dataset_svc.test_upload import upload_and_wait
from tests.services.snapshot_svc.test_snapshots import snapshot
from tests.support.segmentation import LABELS, mask_of, png, scenes, segmentation_zip

SEGMENTATION = {"type": "semantic_segmentation", "input_column": "image", "mask_column": "mask", "heads": []}


async def test_a_segmentation_zip_snapshots_with_every_mask_checked(platform):
    made = scenes(12, empty_every=4)
    wrong = {
        "1.png": png(np.zeros((32, 64), np.uint8)),  # half the image's height
        "2.png": png(np.full((64, 64), 7, np.uint8)),  # 7: no class of labels.txt
        "5.png": png(np.zeros((64, 64, 3), np.uint8), mode="RGB"),  # a colour image
    }
    async with platform.org("acme") as client:
        dataset = await upload_and_wait(client, "shapes.zip", segmentation_zip(made, masks=wrong, root="set/"))
        inferred = {column["name"]: column["inferred_type"] for column in dataset["columns"]}
        assert inferred == {"image": "image", "mask": "mask", "classes": "json"}
        assert dataset["row_count"] == 12
        confirmed = await client.put(f"/v1/datasets/{dataset['id']}/columns", json={"columns": inferred})
        assert confirmed.status_code == 200, confirmed.text
        dataset = await client.wait_dataset(dataset["id"])
        rows = (await client.get(f"/v1/datasets/{dataset['id']}/rows")).json()["items"]
        assert rows[0]["values"] == {"image": "set/images/0.png", "mask": "set/masks/0.png", "classes": LABELS}
        assert rows[0]["assets"]["mask"]["histogram"]["0"] > 0  # read once, when the dataset fetched it
        preview = await client.get(f"/v1/datasets/{dataset['id']}/rows/{rows[0]['id']}/thumbnail?column=mask")
        assert preview.status_code == 200 and preview.headers["content-type"] == "image/png"
        drawn = np.asarray(Image.open(io.BytesIO(preview.content)).convert("RGB")).reshape(-1, 3)
        colours = {tuple(int(value) for value in pixel) for pixel in np.unique(drawn, axis=0)}
        assert len(colours) > 1 and colours <= {palette.colour(index) for index in (0, 1, 2, 255)}  # class colours

        snap = await snapshot(client, dataset["id"], max_invalid_row_pct=30, **SEGMENTATION)
        assert snap["status"] == "ready", snap
        assert snap["mask_column"] == "mask" and snap["classes_column"] == "classes"  # the upload's, by default
        assert snap["invalid_reasons"] == {
            "mask_size_mismatch": 1, "mask_value_unknown": 1, "mask_not_one_channel": 1,
        }  # fmt: skip
        assert snap["row_count"] == 9
        kept = [scene for index, scene in enumerate(made) if index not in (1, 2, 5)]
        pixels = {name: 0 for name in LABELS}
        images = {name: 0 for name in LABELS}
        for scene in kept:
            values, counts = np.unique(mask_of(scene, ignore_border=True), return_counts=True)
            for value, count in zip(values.tolist(), counts.tolist(), strict=True):
                if value != 255:
                    pixels[LABELS[value]] += count
                    images[LABELS[value]] += 1
        total = sum(pixels.values())
        assert snap["stats"]["class_pixel_share"] == {name: round(pixels[name] / total, 6) for name in sorted(LABELS)}
        assert snap["stats"]["images_per_class"] == {name: images[name] for name in sorted(LABELS)}
        assert snap["heads"] == [
            {"name": "mask", "multilabel": True, "classes": [{"name": n, "count": images[n]} for n in sorted(LABELS)]}
        ]
        table = pq.read_table(io.BytesIO((await client.get(f"/v1/snapshots/{snap['id']}/data")).content))
        assert table.column_names[:6] == ["row_id", "index", "image_sha256", "input_hash", "classes", "mask_sha256"]
        assert json.loads(table.to_pylist()[0]["classes"]) == LABELS


async def test_segmentation_uploads_and_snapshots_refuse_what_they_cannot_read(platform):
    made = scenes(4)
    async with platform.org("acme") as client:
        empty_labels = io.BytesIO()
        with zipfile.ZipFile(io.BytesIO(segmentation_zip(made))) as source, zipfile.ZipFile(empty_labels, "w") as out:
            for item in source.infolist():
                out.writestr(item, b"\n" if item.filename == "labels.txt" else source.read(item))
        failed = await upload_and_wait(client, "empty.zip", empty_labels.getvalue())
        assert failed["status"] == "failed" and "labels.txt: no class names" in failed["error"], failed

        dataset = await upload_and_wait(client, "shapes.zip", segmentation_zip(made))
        await client.put(f"/v1/datasets/{dataset['id']}/columns", json={"columns": {"image": "image", "mask": "mask"}})
        base = {"dataset_id": dataset["id"], "name": "s", **SEGMENTATION}
        for change, detail in (
            ({"mask_column": None}, "a semantic_segmentation snapshot needs input_column and mask_column"),
            ({"heads": [{"column": "classes"}]}, "semantic_segmentation snapshots have no label heads"),
            ({"mask_column": "image"}, "mask_column: column 'image' is mapped as 'image'; it must be mask"),
        ):
            refused = await client.post("/v1/snapshots", json={**base, **change})
            if refused.status_code == 201:  # the columns are checked when the build reads the dataset
                built = await client.wait_snapshot(refused.json()["id"])
                assert built["status"] == "failed" and detail in built["error"], built
            else:
                assert refused.status_code == 422 and detail in refused.text, refused.text
