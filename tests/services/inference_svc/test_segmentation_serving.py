"""A semantic segmenter through the gateway, end to end: a zip of images, masks and labels.txt, its snapshot,
training (last layer and full) with the metric guide's figures, then predict, tasks, the playground and batch
predictions answering a mask PNG of the input's size with each class's pixel share."""

from __future__ import annotations

import base64
import csv
import io
import json
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.services.dataset_svc.test_upload import upload_and_wait
from tests.services.inference_svc.conftest import deploy
from tests.services.inference_svc.test_batch import results_of, wait_batch
from tests.services.snapshot_svc.test_snapshots import snapshot
from tests.support.platform import OrgClient, Platform
from tests.support.segmentation import LABELS, mask_of, scenes, segmentation_zip
from tests.support.tiny_models import build_tiny_image_model
from tests.support.training import model_request, register_tiny, wait_model

EPOCH_FIGURES = {"epoch", "train_loss", "decode.loss_ce", "decode.acc_seg", "val_loss"}


@pytest.fixture(scope="module")
async def segmenters(
    org: OrgClient, inference_platform: Platform, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, Any]]:
    folder = build_tiny_image_model(tmp_path_factory.mktemp("tiny-segmenter") / "model")
    base = await register_tiny(
        org, inference_platform, folder, name="tiny-segmenter", model_type="semantic_segmentation"
    )
    assert base["methods"] == ["last_layer", "full"], base
    dataset = await upload_and_wait(org, "shapes.zip", segmentation_zip(scenes(48, empty_every=8)))
    inferred = {column["name"]: column["inferred_type"] for column in dataset["columns"]}
    await org.put(f"/v1/datasets/{dataset['id']}/columns", json={"columns": inferred})
    await org.wait_dataset(dataset["id"])
    snap = await snapshot(
        org, dataset["id"], type="semantic_segmentation", input_column="image", mask_column="mask", heads=[]
    )
    assert snap["status"] == "ready", snap
    lora = await org.post("/v1/models", json=model_request(base["id"], snap["id"], method="lora"))
    assert lora.status_code == 422 and "'lora' is not available for semantic_segmentation" in lora.text
    trained = {}
    for method in ("last_layer", "full"):
        request = model_request(base["id"], snap["id"], method=method, image_size=64, max_epochs=10)
        created = await org.post("/v1/models", json=request)
        assert created.status_code == 201, created.text
        model = await wait_model(org, created.json()["id"])
        assert model["status"] == "succeeded", model
        trained[method] = model | {"snapshot_id": snap["id"]}
    return trained


async def test_both_methods_train_and_report_the_guides_figures(
    org: OrgClient, segmenters: dict[str, dict[str, Any]]
) -> None:
    for model in segmenters.values():
        progress = model["progress"]  # the progress line: epochs, steps, loss, speed
        assert progress["epoch"] == 10 and progress["loss"] > 0 and progress["step"] == progress["total_steps"]
        metrics = (await org.get(f"/v1/models/{model['id']}/metrics")).json()
        report = metrics["segmentation"]
        assert set(report["metrics"]) == {"aAcc", "mIoU", "mAcc"}
        assert report["classes"] == LABELS and set(report["per_class"]) == set(LABELS)
        assert set(report["per_class"]["square"]) == {"IoU", "Acc", "pixels"}
        matrix = np.array(report["confusion_matrix"])
        assert matrix.shape == (3, 3) and report["metrics"]["aAcc"] == pytest.approx(np.trace(matrix) / matrix.sum())
        assert report["test_images"] == 12 and report["worst_images"][0]["image"].startswith("data:image/jpeg")
        assert set(metrics["epochs"][0]) >= EPOCH_FIGURES
        assert metrics["epochs"][-1]["train_loss"] < metrics["epochs"][0]["train_loss"]
        card = (await org.get(f"/v1/models/{model['id']}/card")).text
        assert "mIoU" in card
    full = (await org.get(f"/v1/models/{segmenters['full']['id']}/metrics")).json()["segmentation"]
    assert full["metrics"]["aAcc"] > 0.8, full["metrics"]


def _mask(answer: dict[str, Any]) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(answer["mask_png_base64"])))


async def test_predict_tasks_playground_and_batch_answer_masks(
    org: OrgClient, segmenters: dict[str, dict[str, Any]]
) -> None:
    model = segmenters["full"]
    scene = scenes(1, size=96, seed=9)[0]
    image = {"image_base64": base64.b64encode(scene.png()).decode()}
    deployment = await deploy(org, model["id"])
    response = await org.post(f"/v1/deployments/{deployment['id']}/predict", json={"inputs": [image, image]})
    assert response.status_code == 200, response.text
    first, second = response.json()["outputs"]
    assert first == second and first["classes"] == LABELS
    mask = _mask(first)
    assert mask.mode == "L" and mask.size == (96, 96)
    shares = np.bincount(np.asarray(mask).reshape(-1), minlength=3) / (96 * 96)
    assert [first["pixel_shares"][name] for name in LABELS] == pytest.approx(shares.tolist(), abs=1e-5)
    right = float(np.mean(np.asarray(mask) == mask_of(scene)))
    assert right > 0.7, right

    refused = await org.post(
        f"/v1/deployments/{deployment['id']}/predict", json={"inputs": [{**image, "score_threshold": 0.5}]}
    )
    assert refused.status_code == 422 and "only object detection models take it" in refused.text

    task = await org.post(f"/v1/deployments/{deployment['id']}/tasks", json={"inputs": [image]})
    assert task.status_code == 202, task.text
    await org.wait_while(f"/v1/tasks/{task.json()['task_id']}", "queued", 60)
    done = await org.wait_while(f"/v1/tasks/{task.json()['task_id']}", "running", 60)
    assert done["status"] == "succeeded" and done["outputs"][0] == first, done

    played = await org.post(f"/v1/models/{segmenters['last_layer']['id']}/playground", json={"input": image})
    assert played.status_code == 200, played.text
    assert _mask(played.json()).size == (96, 96)

    created = await org.post(
        "/v1/batch-predictions", json={"model_id": model["id"], "snapshot_id": model["snapshot_id"], "format": "csv"}
    )
    assert created.status_code == 202, created.text
    batch = await wait_batch(org, created.json()["id"])
    assert batch["status"] == "succeeded", batch
    rows = list(csv.DictReader(io.StringIO((await results_of(org, batch)).decode())))
    assert len(rows) == 48
    assert list(rows[0])[3:] == ["mask_png_base64", "classes", "pixel_shares"]
    assert json.loads(rows[0]["classes"]) == LABELS and _mask(rows[0]).size == (64, 64)
