"""Image classification through the gateway, every path: a zip dataset and a URL dataset (a local image
server, with the demo setting) snapshot, train (last layer; full with augmentations), report metrics with
thumbnails of the hardest test images, and serve: predict, tasks, the playground and batch predictions, by
image URL or base64, with clear errors for what is not an image. LoRA is refused; retraining from a parent
keeps the heads the new snapshot lacks."""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image

from tests.services.inference_svc.conftest import deploy
from tests.services.inference_svc.test_batch import results_of, wait_batch
from tests.support.image_server import Route, image_server
from tests.support.images import COLOURS, colour_image, labelled_images
from tests.support.platform import OrgClient, Platform
from tests.support.tiny_models import build_tiny_image_model
from tests.support.training import register_tiny, to_csv, wait_model

HEADS: list[dict[str, Any]] = [{"column": "colour"}, {"column": "channels", "multilabel": True}]
ROUTES: dict[str, Route] = {}


@pytest.fixture(scope="module")
def image_urls() -> Iterator[str]:
    with image_server(ROUTES) as base:
        yield base


@pytest.fixture(scope="module")
def dataset_overrides() -> dict[str, Any]:
    return {"allow_private_image_urls": True}  # the URL dataset's images are on this machine's test server


@pytest.fixture(scope="module")
def inference_overrides() -> dict[str, Any]:
    return {"allow_private_image_urls": True, "max_image_pixels": 4_000_000}


@pytest.fixture(scope="module")
def platform(inference_platform: Platform) -> Platform:
    return inference_platform


@pytest.fixture(scope="module")
async def base_model(org: OrgClient, platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = build_tiny_image_model(tmp_path_factory.mktemp("tiny-image") / "model")
    base = await register_tiny(org, platform, folder, model_type="image_classification")
    assert base["methods"] == ["last_layer", "full"], base
    return base


def label_rows(images: list[tuple[str, bytes]], where: list[str], *, channels_every: int = 1) -> list[dict[str, str]]:
    """One row per image; ``channels`` left empty on all but every ``channels_every``-th row (partial labels)."""
    return [
        {
            "image": location,
            "colour": colour,
            "channels": json.dumps(COLOURS[colour][1]) if position % channels_every == 0 else "",
        }
        for position, ((colour, _), location) in enumerate(zip(images, where, strict=True))
    ]


async def image_snapshot(org: OrgClient, filename: str, content: bytes, heads: list[dict[str, Any]]) -> dict[str, Any]:
    created = await org.upload(filename, content)
    assert created.status_code == 201, created.text
    dataset = await org.wait_dataset(created.json()["id"], timeout_s=120)
    assert dataset["status"] == "ready", dataset
    for _ in range(600):  # URL images are fetched after the upload
        dataset = (await org.get(f"/v1/datasets/{dataset['id']}")).json()
        if dataset["images"]["pending"] == 0:
            break
        await asyncio.sleep(0.1)
    assert dataset["images"]["failed"] == 0, dataset["images"]
    mapping = {"image": "image", "colour": "label", "channels": "label"}
    response = await org.put(f"/v1/datasets/{dataset['id']}/columns", json={"columns": mapping})
    assert response.status_code == 200, response.text
    response = await org.post(
        "/v1/snapshots",
        json={
            "dataset_id": dataset["id"],
            "name": filename,
            "type": "image_classification",
            "input_column": "image",
            "heads": heads,
        },
    )
    assert response.status_code == 201, response.text
    snapshot = await org.wait_snapshot(response.json()["id"], timeout_s=120)
    assert snapshot["status"] == "ready", snapshot
    snapshot["dataset_id"] = dataset["id"]
    return snapshot


@pytest.fixture(scope="module")
async def zip_snapshot(org: OrgClient) -> dict[str, Any]:
    images = labelled_images(160, seed=1)
    names = [f"pictures/{position}.{extension(data)}" for position, (_, data) in enumerate(images)]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("labels.csv", to_csv(label_rows(images, names, channels_every=2)))
        for name, (_, data) in zip(names, images, strict=True):
            archive.writestr(name, data)
    return await image_snapshot(org, "colours.zip", buffer.getvalue(), HEADS)


def extension(data: bytes) -> str:
    return "png" if data.startswith(b"\x89PNG") else "jpg"


def b64(data: bytes) -> dict[str, str]:
    return {"image_base64": base64.b64encode(data).decode()}


def request(base_model: dict[str, Any], snapshot: dict[str, Any], method: str, **options: Any) -> dict[str, Any]:
    """No ``model_type``: it is the image snapshot's (it was a 422 naming text_classification)."""
    return {
        "name": f"colours {method}",
        "base_model": base_model["id"],
        "method": method,
        "train_snapshot_id": snapshot["id"],
        "test_split_pct": 25,
        "options": options,
    }


@pytest.fixture(scope="module")
async def last_layer_model(org: OrgClient, base_model: dict[str, Any], zip_snapshot: dict[str, Any]) -> dict[str, Any]:
    body = request(base_model, zip_snapshot, "last_layer", max_epochs=60, class_weights="balanced")
    response = await org.post("/v1/models", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["model_type"] == "image_classification"  # the snapshot's
    model = await wait_model(org, response.json()["id"])
    assert model["status"] == "succeeded", model
    return model


async def test_lora_and_text_inputs_are_refused(
    org: OrgClient, base_model: dict[str, Any], zip_snapshot: dict[str, Any]
) -> None:
    response = await org.post("/v1/models", json=request(base_model, zip_snapshot, "lora"))
    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith("method: 'lora' is not available for image_classification models")
    text_type = {**request(base_model, zip_snapshot, "last_layer"), "model_type": "text_classification"}
    refused = await org.post("/v1/models", json=text_type)
    assert refused.status_code == 422 and refused.json()["detail"].startswith("base_model:"), refused.text


async def test_a_zip_dataset_trains_and_reports_the_hardest_images(
    org: OrgClient, last_layer_model: dict[str, Any]
) -> None:
    metrics = (await org.get(f"/v1/models/{last_layer_model['id']}/metrics")).json()
    assert metrics["heads"]["colour"]["accuracy"] >= 0.9, metrics["heads"]["colour"]
    assert metrics["heads"]["channels"]["macro"]["f1"] >= 0.8, metrics["heads"]["channels"]["macro"]
    assert metrics["delta"]["overall"]["f1"] > 0.3  # far above the majority-class baseline
    hardest = metrics["hardest_examples"]
    assert set(hardest) == {"colour", "channels"} and set(hardest["colour"]) == set(COLOURS)
    example = hardest["colour"]["red"][0]
    assert example["thumbnail"].startswith("data:image/jpeg;base64,") and isinstance(example["row_id"], int)
    thumbnail = Image.open(io.BytesIO(base64.b64decode(example["thumbnail"].split(",", 1)[1])))
    assert thumbnail.format == "JPEG" and max(thumbnail.size) <= 96
    scores = [item["score"] for item in hardest["colour"]["red"]]
    assert scores == sorted(scores)  # the worst first


async def test_predict_tasks_and_playground_take_urls_and_base64(
    org: OrgClient, last_layer_model: dict[str, Any], image_urls: str
) -> None:
    deployment = await deploy(org, last_layer_model["id"])
    ROUTES["/blue.png"] = (200, "image/png", colour_image("blue", 999), {})
    ROUTES["/page.html"] = (200, "text/html", b"<html>hello</html>", {})
    inputs = [b64(colour_image(name, 500 + position)) for position, name in enumerate(sorted(COLOURS))]
    inputs.append({"image_url": f"{image_urls}/blue.png"})
    response = await org.post(f"/v1/deployments/{deployment['id']}/predict", json={"inputs": inputs})
    assert response.status_code == 200, response.text
    predicted = [output["heads"]["colour"]["predicted"][0] for output in response.json()["outputs"]]
    assert predicted == [*sorted(COLOURS), "blue"]

    refusals = {
        "a text": ("a dog", "WrongInputKind", "inputs[0]: a text, but this model takes images"),
        "html": ({"image_url": f"{image_urls}/page.html"}, "ImageRefused", "inputs[0].image_url: not an image"),
        "404": ({"image_url": f"{image_urls}/gone.png"}, "ImageRefused", "inputs[0].image_url: HTTP 404"),
        "base64": ({"image_base64": "***"}, "ImageRefused", "inputs[0].image_base64: not valid base64"),
        "pixels": (b64(_big_png()), "ImageRefused", "3000x2000 pixels; at most 4,000,000 pixels"),
        "metadata": ({"image_url": "http://169.254.169.254/x.png"}, "ImageRefused", "not allowed"),
    }
    for what, (value, error, detail) in refusals.items():
        refused = await org.post(f"/v1/deployments/{deployment['id']}/predict", json={"inputs": [value]})
        assert refused.status_code == 422, (what, refused.text)
        assert refused.json()["error"] == error and detail in refused.json()["detail"], (what, refused.json())

    task = await org.post(f"/v1/deployments/{deployment['id']}/tasks", json={"inputs": inputs[:2]})
    assert task.status_code == 202, task.text
    done = await org.wait_while(f"/v1/tasks/{task.json()['task_id']}", "queued", 60)
    done = await org.wait_while(f"/v1/tasks/{task.json()['task_id']}", "running", 60)
    assert done["status"] == "succeeded", done
    assert [o["heads"]["colour"]["predicted"] for o in done["outputs"]] == [[name] for name in sorted(COLOURS)[:2]]

    played = await org.post(
        f"/v1/models/{last_layer_model['id']}/playground", json={"input": {"image_url": f"{image_urls}/blue.png"}}
    )
    assert played.status_code == 200, played.text
    assert played.json()["heads"]["colour"]["predicted"] == ["blue"]


def _big_png() -> bytes:
    out = io.BytesIO()
    Image.new("L", (3000, 2000)).save(out, "PNG")
    return out.getvalue()


async def test_batch_predictions_over_an_image_snapshot_and_dataset(
    org: OrgClient, last_layer_model: dict[str, Any], zip_snapshot: dict[str, Any]
) -> None:
    created = await org.post(
        "/v1/batch-predictions", json={"model_id": last_layer_model["id"], "snapshot_id": zip_snapshot["id"]}
    )
    assert created.status_code == 202, created.text
    batch = await wait_batch(org, created.json()["id"])
    assert batch["status"] == "succeeded", batch
    lines = [json.loads(line) for line in (await results_of(org, batch)).splitlines()]
    assert len(lines) == 160 and all("heads" in line for line in lines)
    right = sum(line["heads"]["colour"]["predicted"][0] == COLOURS_BY_INDEX[line["index"]] for line in lines)
    assert right >= 150, right

    from_dataset = await org.post(
        "/v1/batch-predictions",
        json={"model_id": last_layer_model["id"], "dataset_id": zip_snapshot["dataset_id"], "format": "csv"},
    )
    assert from_dataset.status_code == 202, from_dataset.text
    batch = await wait_batch(org, from_dataset.json()["id"])
    assert batch["status"] == "succeeded", batch
    rows = list(csv.DictReader(io.StringIO((await results_of(org, batch)).decode())))
    assert len(rows) == 160 and rows[0]["colour"] in COLOURS


COLOURS_BY_INDEX = {position: name for position, (name, _) in enumerate(labelled_images(160, seed=1))}


async def test_a_url_dataset_trains_a_full_fine_tune_and_serves(
    org: OrgClient, base_model: dict[str, Any], image_urls: str
) -> None:
    images = labelled_images(96, seed=4)
    for position, (_, data) in enumerate(images):
        ROUTES[f"/colours/{position}"] = (200, f"image/{'png' if extension(data) == 'png' else 'jpeg'}", data, {})
    urls = [f"{image_urls}/colours/{position}" for position in range(len(images))]
    snapshot = await image_snapshot(org, "urls.csv", to_csv(label_rows(images, urls)), HEADS)
    body = request(base_model, snapshot, "full", max_epochs=10, learning_rate=0.01, augment=True, batch_size=16)
    response = await org.post("/v1/models", json=body)
    assert response.status_code == 201, response.text
    model = await wait_model(org, response.json()["id"])
    assert model["status"] == "succeeded", model
    assert model["metrics"]["heads"]["colour"]["accuracy"] >= 0.8, model["metrics"]
    deployment = await deploy(org, model["id"])
    response = await org.post(
        f"/v1/deployments/{deployment['id']}/predict", json={"inputs": [{"image_url": urls[0]}, b64(images[1][1])]}
    )
    assert response.status_code == 200, response.text
    assert [o["heads"]["colour"]["predicted"][0] for o in response.json()["outputs"]] == [images[0][0], images[1][0]]


async def test_retraining_from_a_parent_keeps_the_heads_the_snapshot_lacks(
    org: OrgClient, base_model: dict[str, Any], last_layer_model: dict[str, Any]
) -> None:
    images = labelled_images(64, seed=6)
    names = [f"{position}.png" for position in range(len(images))]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("labels.csv", to_csv(label_rows(images, names)))
        for name, (_, data) in zip(names, images, strict=True):
            archive.writestr(name, data)
    snapshot = await image_snapshot(org, "colour-only.zip", buffer.getvalue(), [{"column": "colour"}])
    body = {**request(base_model, snapshot, "last_layer", max_epochs=30), "parent_model_id": last_layer_model["id"]}
    response = await org.post("/v1/models", json=body)
    assert response.status_code == 201, response.text
    child = await wait_model(org, response.json()["id"])
    assert child["status"] == "succeeded", child
    metrics = (await org.get(f"/v1/models/{child['id']}/metrics")).json()
    assert metrics["kept_heads"] == ["channels"]
    assert metrics["baseline"]["name"].startswith("the parent model")
