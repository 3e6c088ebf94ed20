"""Training through the gateway with a tiny BERT: each method learns, multi-head with partial labels and
multi-label heads, early stopping and the selection rule, reproducibility, artifacts usable without the
trainer."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from automl_common.storage import FilesystemStore, S3Store, download_prefix
from tests.support.platform import OrgClient, Platform, run_platform
from tests.support.seaweedfs import S3Server
from tests.support.training import (
    events,
    model_request,
    register_tiny,
    review_rows,
    text_snapshot,
    wait_model,
)

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("method", "options", "min_f1"),
    [
        # A frozen, randomly initialised encoder: its features carry the words only faintly.
        ("last_layer", {"max_epochs": 40}, 0.75),
        (
            "lora",
            {"max_epochs": 15, "learning_rate": 1e-2, "lora": {"r": 8, "target_modules": ["query", "value", "dense"]}},
            0.85,
        ),
        ("full", {"max_epochs": 6, "learning_rate": 3e-3}, 0.9),
    ],
)
async def test_each_method_learns_the_sentiment(
    org: OrgClient, tiny_base: dict[str, Any], method: str, options: dict[str, Any], min_f1: float
) -> None:
    snapshot = await text_snapshot(org, review_rows(240), [{"column": "sentiment"}])
    response = await org.post("/v1/models", json=model_request(tiny_base["id"], snapshot["id"], method, **options))
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "queued"
    model = await wait_model(org, response.json()["id"])
    assert model["status"] == "succeeded", model["error"]
    metrics = (await org.get(f"/v1/models/{model['id']}/metrics")).json()
    head = metrics["heads"]["sentiment"]
    assert head["macro"]["f1"] > min_f1, head["macro"]
    assert metrics["delta"]["overall"]["f1"] > 0.4  # far above the majority-class predictor
    assert set(head["classes"]) == {"positive", "negative"}
    assert len(metrics["epochs"]) == options["max_epochs"]
    kinds = {event["kind"] for event in await events(org, model["id"])}
    assert {"queued", "submitted", "started", "progress", "epoch", "checkpoint", "succeeded"} <= kinds


async def _download_model(org: OrgClient, platform: Platform, model_id: str, base_prefix: str, work: Path) -> Path:
    store = FilesystemStore(platform.apps["trainer"].state.settings.resolved_store_root)
    await download_prefix(store, f"orgs/{org.org_id}/models/{model_id}/artifacts/", work / "artifacts")
    await download_prefix(store, base_prefix, work / "base")
    return work


async def test_multi_head_with_partial_and_multi_label_heads(
    org: OrgClient, trainer_platform: Platform, tiny_base: dict[str, Any], tmp_path: Path
) -> None:
    rows = review_rows(300, seed=1, topic_labelled=0.6)
    heads: list[dict[str, Any]] = [{"column": "sentiment"}, {"column": "topic"}, {"column": "tags", "multilabel": True}]
    snapshot = await text_snapshot(org, rows, heads)
    request = model_request(tiny_base["id"], snapshot["id"], "full", max_epochs=8, learning_rate=3e-3)
    model = await wait_model(org, (await org.post("/v1/models", json=request)).json()["id"])
    assert model["status"] == "succeeded", model["error"]
    metrics = (await org.get(f"/v1/models/{model['id']}/metrics")).json()
    assert set(metrics["heads"]) == {"sentiment", "topic", "tags"}
    tags = metrics["heads"]["tags"]
    assert tags["multilabel"] is True
    assert tags["macro"]["f1"] > 0.8, tags["macro"]
    assert metrics["heads"]["sentiment"]["macro"]["f1"] > 0.85
    # Only the labelled rows of the partial head are evaluated.
    assert metrics["heads"]["topic"]["rows"] < metrics["heads"]["sentiment"]["rows"]
    assert set(model["metrics"]["heads"]) == {"sentiment", "topic", "tags"}
    # A split keeps duplicates in one part: no test row was a training row.
    assert metrics["leakage"] == {"test_rows": metrics["heads"]["sentiment"]["rows"], "test_rows_in_training": 0}
    assert metrics["heads"]["sentiment"]["accuracy_ci"][0] <= metrics["heads"]["sentiment"]["accuracy"]

    # A metrics view at another threshold, and one head only.
    strict = (await org.get(f"/v1/models/{model['id']}/metrics", params={"threshold": 0.9, "head": "tags"})).json()
    assert list(strict["heads"]) == ["tags"]
    assert strict["heads"]["tags"]["threshold"] == 0.9
    await _check_figures_at_cut_offs(org, trainer_platform, model["id"])

    # The artifacts work without the trainer: modelkit loads them with the base model's files.
    from modelkit.predict import ClassifierPredictor

    base = (await org.get(f"/v1/base-models/{tiny_base['id']}")).json()
    work = await _download_model(org, trainer_platform, model["id"], f"base-models/{base['sha256']}/", tmp_path)
    predictor = ClassifierPredictor.load(work / "artifacts", work / "base")
    (output,) = predictor.predict(["great lovely football match today"])
    assert output["heads"]["sentiment"]["predicted"] == ["positive"]
    assert "sport" in output["heads"]["tags"]["predicted"]
    assert abs(sum(output["heads"]["sentiment"]["scores"].values()) - 1) < 1e-5


async def _check_figures_at_cut_offs(org: OrgClient, platform: Platform, model_id: str) -> None:
    """Every figure at a cut-off, against scikit-learn on the stored scores: accuracy, the confusion matrix,
    the baseline and the improvement over it included."""
    import io

    import numpy as np
    from sklearn import metrics as skm

    store = FilesystemStore(platform.apps["trainer"].state.settings.resolved_store_root)
    scores_npz = await store.get_bytes(f"orgs/{org.org_id}/models/{model_id}/scores.npz")
    default = (await org.get(f"/v1/models/{model_id}/metrics")).json()
    names = list(default["heads"])
    position = names.index("sentiment")
    with np.load(io.BytesIO(scores_npz)) as arrays:
        y, scores, baseline = (arrays[f"{k}_{position}"].astype(np.float64) for k in ("y", "scores", "baseline"))
    y = y.astype(int)
    labels = list(default["heads"]["sentiment"]["classes"])
    for params, cuts in (
        ({"threshold": 0.9}, dict.fromkeys(range(len(labels)), 0.9)),
        ({"threshold": 0.2, "threshold_class": labels[1], "head": "sentiment"}, {1: 0.2}),
    ):
        answer = await org.get(f"/v1/models/{model_id}/metrics", params=params)
        assert answer.status_code == 200, answer.text
        got = answer.json()
        figures = {}
        for name, matrix in (("model", scores), ("baseline", baseline)):
            predicted = _decide(matrix[y >= 0], cuts)
            truth = y[y >= 0]
            head = got["heads"]["sentiment"] if name == "model" else got["baseline"]["heads"]["sentiment"]
            everything = list(range(len(labels)))
            p, r, f, _ = skm.precision_recall_fscore_support(truth, predicted, labels=everything, zero_division=0)
            for index, label in enumerate(labels):
                assert head["classes"][label]["precision"] == pytest.approx(p[index])
                assert head["classes"][label]["recall"] == pytest.approx(r[index])
                assert head["classes"][label]["f1"] == pytest.approx(f[index])
            assert head["accuracy"] == pytest.approx(skm.accuracy_score(truth, predicted))
            full = skm.confusion_matrix(truth, predicted, labels=[*everything, -1])
            assert head["confusion_matrix"]["matrix"] == full[: len(labels), : len(labels)].tolist()
            assert head["confusion_matrix"]["unpredicted"] == full[: len(labels), -1].tolist()
            figures[name] = head
        change = got["delta"]["heads"]["sentiment"]
        assert change["accuracy"] == pytest.approx(figures["model"]["accuracy"] - figures["baseline"]["accuracy"])
        assert change["macro"]["recall"] == pytest.approx(
            figures["model"]["macro"]["recall"] - figures["baseline"]["macro"]["recall"]
        )
    wrong = await org.get(f"/v1/models/{model_id}/metrics", params={"threshold": 0.5, "threshold_class": "nope"})
    assert wrong.status_code == 422 and "head" in wrong.json()["detail"]


def _decide(scores: Any, cuts: dict[int, float]) -> Any:
    import numpy as np

    out = []
    for row in scores:
        reached = [c for c in range(len(row)) if c in cuts and row[c] >= cuts[c]]
        free = [c for c in range(len(row)) if c not in cuts]
        pool = reached or free
        out.append(max(pool, key=lambda c: (row[c], -c)) if pool else -1)
    return np.array(out)


async def test_early_stopping_and_the_selection_rule(org: OrgClient, tiny_base: dict[str, Any]) -> None:
    snapshot = await text_snapshot(org, review_rows(200, seed=2), [{"column": "sentiment"}])
    selection = {"metric": "recall", "head": "sentiment", "class": "negative"}
    request = model_request(
        tiny_base["id"],
        snapshot["id"],
        "last_layer",
        max_epochs=60,
        early_stopping={"patience": 2, "min_delta": 0.5},  # a gain of 0.5 is rare: it stops within a few epochs
        selection=selection,
    )
    model = await wait_model(org, (await org.post("/v1/models", json=request)).json()["id"])
    assert model["status"] == "succeeded", model["error"]
    metrics = (await org.get(f"/v1/models/{model['id']}/metrics")).json()
    assert metrics["stopped_early"] is True
    key = "val_recall:sentiment:negative"
    values = [epoch[key] for epoch in metrics["epochs"]]
    assert len(values) < 60
    # It stopped because its last two evaluations did not beat the best before them by min_delta.
    assert max(values[-2:]) < max(values[:-2]) + 0.5
    assert metrics["selection"]["name"] == key
    best = max(values)
    assert metrics["chosen_epoch"] == metrics["epochs"][values.index(best)]["epoch"]
    assert metrics["selection"]["value"] == best


async def test_the_same_seed_gives_the_same_metrics(org: OrgClient, tiny_base: dict[str, Any]) -> None:
    snapshot = await text_snapshot(org, review_rows(200, seed=3), [{"column": "sentiment"}])
    reports = []
    for _ in range(2):
        request = model_request(tiny_base["id"], snapshot["id"], "full", max_epochs=2, learning_rate=3e-3, seed=7)
        model = await wait_model(org, (await org.post("/v1/models", json=request)).json()["id"])
        assert model["status"] == "succeeded", model["error"]
        reports.append((await org.get(f"/v1/models/{model['id']}/metrics")).json())
    first, second = reports
    assert first["heads"] == second["heads"]
    assert [e["train_loss"] for e in first["epochs"]] == [e["train_loss"] for e in second["epochs"]]


async def test_card_and_events(org: OrgClient, tiny_base: dict[str, Any]) -> None:
    snapshot = await text_snapshot(org, review_rows(160, seed=4), [{"column": "sentiment"}])
    request = model_request(tiny_base["id"], snapshot["id"], "last_layer", max_epochs=5) | {"description": "demo"}
    created = (await org.post("/v1/models", json=request)).json()
    early = await org.get(f"/v1/models/{created['id']}/metrics")
    assert early.status_code == 409
    assert early.json()["error"] == "ModelNotFinished"
    model = await wait_model(org, created["id"])
    card = await org.get(f"/v1/models/{model['id']}/card")
    assert card.status_code == 200
    assert card.headers["content-type"].startswith("text/markdown")
    assert "## Hyperparameters" in card.text
    assert "tiny-bert" in card.text
    assert "sentiment" in card.text
    everything = await events(org, model["id"])
    assert [event["seq"] for event in everything] == list(range(1, len(everything) + 1))
    later = (await org.get(f"/v1/models/{model['id']}/events", params={"after": 3})).json()["items"]
    assert [event["seq"] for event in later] == list(range(4, len(everything) + 1))
    assert model["progress"]["step"] == model["progress"]["total_steps"]
    assert model["started_at"] is not None
    assert model["finished_at"] is not None


async def test_evaluation_every_n_steps_with_custom_class_weights(org: OrgClient, tiny_base: dict[str, Any]) -> None:
    snapshot = await text_snapshot(org, review_rows(160, seed=10), [{"column": "sentiment"}])
    request = model_request(
        tiny_base["id"],
        snapshot["id"],
        "last_layer",
        max_epochs=3,
        batch_size=32,
        eval_strategy="steps",
        eval_steps=2,
        class_weights={"sentiment": {"negative": 3.0}},
    )
    model = await wait_model(org, (await org.post("/v1/models", json=request)).json()["id"])
    assert model["status"] == "succeeded", model["error"]
    epochs = (await org.get(f"/v1/models/{model['id']}/metrics")).json()["epochs"]
    steps = [record["step"] for record in epochs]
    total = model["progress"]["total_steps"]
    assert steps == list(range(2, total + 1, 2)) + ([total] if total % 2 else [])
    assert any(record["epoch"] % 1 for record in epochs)  # evaluations fall inside epochs
    assert all("val_f1" in record for record in epochs)


async def test_training_with_every_service_on_s3(
    tmp_path: Path, postgres_url: str, seaweedfs: S3Server, tiny_bert: Path
) -> None:
    """The cluster's shape: dataset-svc, snapshot-svc, trainer-svc and the worker share one S3 bucket."""
    s3 = {
        "store_backend": "s3",
        "s3_endpoint_url": seaweedfs.endpoint_url,
        "s3_bucket": f"train-{uuid.uuid4().hex[:10]}",
        "s3_access_key_id": seaweedfs.access_key_id,
        "s3_secret_access_key": seaweedfs.secret_access_key,
    }
    urls = {"dataset": postgres_url, "gateway": postgres_url, "trainer": postgres_url}
    with run_platform(tmp_path, urls, dataset_overrides=s3, snapshot_overrides=s3, trainer_overrides=s3) as platform:
        async with platform.org("s3") as org:
            base = await register_tiny(org, platform, tiny_bert)
            snapshot = await text_snapshot(org, review_rows(160, seed=12), [{"column": "sentiment"}])
            request = model_request(base["id"], snapshot["id"], "last_layer", max_epochs=5)
            model = await wait_model(org, (await org.post("/v1/models", json=request)).json()["id"])
            assert model["status"] == "succeeded", model["error"]
            assert (await org.get(f"/v1/models/{model['id']}/card")).status_code == 200
            store = S3Store(
                s3["s3_bucket"],
                endpoint_url=seaweedfs.endpoint_url,
                access_key_id=seaweedfs.access_key_id,
                secret_access_key=seaweedfs.secret_access_key,
            )
            try:
                keys = [info.key async for info in store.list(f"orgs/{org.org_id}/models/{model['id']}/")]
            finally:
                await store.close()
            assert any(key.endswith("artifacts/heads.safetensors") for key in keys)
            assert any(key.endswith("checkpoints/last.pt") for key in keys)
