"""Object detection through trainer-svc: its base models register on the image backbones, LoRA is refused by
name, and a detector trains (full and last layer) in the worker with COCO's figures in its metrics."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from automl_common.http import InternalClient
from automl_proto import model_types
from automl_proto.metrics import ModelMetrics
from automl_proto.models import Model
from inference_svc.models_client import SERVED_FAMILIES, model_artifacts
from inference_svc.serving.apps import APP_BUILDERS
from tests.services.dataset_svc.test_upload import upload_and_wait
from tests.services.snapshot_svc.test_snapshots import snapshot
from tests.support.api import INTERNAL_TOKEN
from tests.support.detection import coco_zip, scenes
from tests.support.platform import OrgClient, Platform
from tests.support.tiny_models import build_tiny_image_model
from tests.support.training import model_request, register_tiny, wait_model
from trainer_svc.models.service import TRAINED_FAMILIES

GUIDE_NAMES = ("coco/bbox_mAP", "coco/bbox_mAP_50", "coco/bbox_mAP_75", "coco/bbox_mAP_s", "coco/bbox_mAP_m",
               "coco/bbox_mAP_l", "coco/bbox_AR@100")  # fmt: skip


def _model_page(model: dict[str, Any], metrics: dict[str, Any]) -> str:
    from gateway.console import install

    app = FastAPI()
    install(app, "x" * 32, session_ttl_s=60, secure_cookies=False)
    report = ModelMetrics.model_validate(metrics)
    context = {
        "model": Model.model_validate(model), "input_kind": "image", "report": report,
        "metrics_data": metrics, "at": {}, "card": "", "deployments": [], "session": None, "csrf_token": "",
        "section": "models",
    }  # fmt: skip
    return str(app.state.console.templates.get_template("model.html").render(context))


def test_the_worker_trains_every_family_of_the_table():
    from trainer_svc.worker.__main__ import DRIVERS

    assert set(DRIVERS) == TRAINED_FAMILIES == {line.family for line in model_types.TABLE.values()}


async def test_a_detector_trains_and_reports_cocos_figures(org: OrgClient, trainer_platform: Platform, tmp_path):
    base = await register_tiny(
        org, trainer_platform, build_tiny_image_model(tmp_path / "tiny"), name="tiny-detector",
        model_type="object_detection",
    )  # fmt: skip
    assert base["methods"] == ["last_layer", "full"]
    dataset = await upload_and_wait(org, "coco.zip", coco_zip(scenes(48, empty_every=8)))
    await org.put(f"/v1/datasets/{dataset['id']}/columns", json={"columns": {"image": "image", "boxes": "boxes"}})
    snap = await snapshot(
        org, dataset["id"], type="object_detection", input_column="image", boxes_column="boxes", heads=[]
    )
    assert snap["status"] == "ready", snap
    lora = await org.post("/v1/models", json=model_request(base["id"], snap["id"], method="lora"))
    assert lora.status_code == 422, lora.text
    assert "'lora' is not available for object_detection models" in lora.json()["detail"]

    for method in ("full", "last_layer"):
        request = model_request(base["id"], snap["id"], method=method, image_size=64, max_epochs=6)
        created = await org.post("/v1/models", json=request)
        assert created.status_code == 201, created.text
        model = await wait_model(org, created.json()["id"])
        assert model["status"] == "succeeded", model
        assert model["options"]["batch_size"] == 16 and model["options"]["augment"]  # the type's defaults, filled in
        assert model["progress"]["epoch"] == 6 and model["progress"]["loss"] > 0
        metrics = (await org.get(f"/v1/models/{model['id']}/metrics")).json()
        detection = metrics["detection"]
        assert set(GUIDE_NAMES) <= set(detection["metrics"])
        assert set(detection["per_class"]) == {"bar", "square"}
        assert len(detection["pr_curves"]["square"]["precision"]) == 101
        assert detection["test_images"] == 12
        assert detection["worst_images"][0]["image"].startswith("data:image/jpeg;base64,")
        assert {"epoch", "loss_cls", "loss_bbox", "loss", "val_loss"} <= set(metrics["epochs"][0])
        assert metrics["epochs"][-1]["loss"] < metrics["epochs"][0]["loss"]
        card = (await org.get(f"/v1/models/{model['id']}/card")).text
        assert "coco/bbox_mAP_50" in card

    # The console's model page shows the COCO figures and the test images it misses most (its template, with
    # what the page's handler gives it: this platform has no inference-svc for the page's deployment list).
    page = _model_page(model, metrics)
    assert "coco/bbox_mAP_50" in page
    assert "What it misses most" in page
    assert 'src="data:image/jpeg;base64,' in page

    # Every path of inference-svc to a model (deployments, playground, batch) asks trainer-svc where its files
    # are, and finds a detector servable (tests/services/inference_svc/test_detection_serving.py serves one).
    trainer = InternalClient("trainer", trainer_platform.service_urls["trainer"], INTERNAL_TOKEN)
    try:
        artifacts = await model_artifacts(trainer, org.org_id, model["id"])
    finally:
        await trainer.client.aclose()
    assert artifacts.model_type == "object_detection" and artifacts.method == "last_layer"
    assert set(APP_BUILDERS) == SERVED_FAMILIES == TRAINED_FAMILIES
