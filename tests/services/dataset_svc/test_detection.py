"""Object-detection datasets: a zip with a COCO annotation file, or with a CSV of one box per row, becomes one
row per image with its labelled boxes; the boxes can be edited."""

from __future__ import annotations

from tests.services.dataset_svc.test_upload import upload_and_wait
from tests.support.detection import box_csv_zip, coco_zip, scenes


def _expected(made):
    return {
        scene.name: [{"label": label, "box": [float(value) for value in box]} for label, box in scene.boxes]
        for scene in made
    }


async def test_a_coco_zip_and_a_box_csv_zip_give_the_same_rows_with_inferred_columns(platform):
    made = scenes(6, empty_every=3)
    async with platform.org("acme") as client:
        for filename, content in (("coco.zip", coco_zip(made)), ("boxes.zip", box_csv_zip(made))):
            dataset = await upload_and_wait(client, filename, content)
            assert dataset["status"] == "ready", dataset
            assert dataset["row_count"] == 6
            assert {column["name"]: column["inferred_type"] for column in dataset["columns"]} == {
                "image": "image",
                "boxes": "boxes",
            }
            assert dataset["images"] == {"pending": 0, "ok": 6, "failed": 0}
            rows = await client.rows(dataset["id"])
            assert {row["values"]["image"]: row["values"]["boxes"] for row in rows} == _expected(made)
            assert [row["values"]["boxes"] for row in rows][2] == []  # an image without objects


async def test_a_coco_category_the_file_does_not_name_is_kept_as_a_null_label(platform):
    made = scenes(3)
    stray = {"id": 99, "image_id": 1, "category_id": 7, "bbox": [1, 2, 10, 10]}
    async with platform.org("acme") as client:
        dataset = await upload_and_wait(client, "coco.zip", coco_zip(made, [stray]))
        first = (await client.rows(dataset["id"]))[0]
        assert first["values"]["boxes"][-1] == {"label": None, "box": [1.0, 2.0, 11.0, 12.0]}


async def test_a_malformed_annotation_fails_the_upload_with_where_it_is(platform):
    made = scenes(3)
    async with platform.org("acme") as client:
        bad_bbox = await upload_and_wait(
            client, "coco.zip", coco_zip(made, [{"id": 50, "image_id": 2, "category_id": 1, "bbox": [1, 2, 3]}])
        )
        assert bad_bbox["status"] == "failed"
        assert bad_bbox["error"] == "annotations.json: annotations[-1].bbox: must be [x, y, width, height]".replace(
            "-1", str(sum(len(scene.boxes) for scene in made))
        )
        no_image = await upload_and_wait(
            client, "coco.zip", coco_zip(made, [{"id": 51, "image_id": 40, "category_id": 1, "bbox": [1, 2, 3, 4]}])
        )
        assert "image_id 40 is not in images" in no_image["error"]
        bad_csv = await upload_and_wait(client, "boxes.zip", box_csv_zip(made, ["images/0.png,square,1,2,x,4"]))
        assert bad_csv["status"] == "failed"
        assert "boxes.csv: line" in bad_csv["error"] and "must be numbers" in bad_csv["error"]


async def test_boxes_are_edited_as_labelled_boxes_and_a_malformed_edit_changes_nothing(platform):
    made = scenes(3)
    async with platform.org("acme") as client:
        dataset = await upload_and_wait(client, "coco.zip", coco_zip(made))
        row = (await client.rows(dataset["id"]))[0]
        url = f"/v1/datasets/{dataset['id']}/rows/{row['id']}"
        boxes = [{"label": "square", "box": [4, 4, 20, 20]}]
        edited = await client.patch(url, json={"values": {"boxes": boxes}})
        assert edited.status_code == 200, edited.text
        assert edited.json()["values"]["boxes"] == [{"label": "square", "box": [4.0, 4.0, 20.0, 20.0]}]
        for bad, detail in (
            ([{"label": "square", "box": [1, 2, 3]}], "values.boxes.0.box"),
            ([{"label": "square"}], "values.boxes.0.box: Field required"),
            ({"label": "square"}, "values.boxes: must be a list of"),
            ("[not json", "values.boxes: not valid JSON"),
        ):
            refused = await client.patch(url, json={"values": {"boxes": bad}})
            assert refused.status_code == 422, refused.text
            assert detail in refused.json()["detail"], refused.json()
        assert (await client.get(url)).json()["values"]["boxes"] == edited.json()["values"]["boxes"]
