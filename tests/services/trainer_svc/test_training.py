"""Training through the gateway with a tiny BERT: each method learns, multi-head with partial labels and
multi-label heads, early stopping and the selection rule, reproducibility, artifacts usable without the
trainer."""

from __future__ import annotations

from typing import Any

import pytest

from tests.services.trainer_svc.conftest import events, model_request, review_rows, text_snapshot, wait_model
from tests.support.platform import OrgClient

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
