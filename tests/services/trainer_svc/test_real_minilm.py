"""The real MiniLM-L6 (from its package) end to end: imported into the object store on first use, trained
(last layer) on part of the SMS spam collection, and well above the majority-class predictor."""

from __future__ import annotations

import pytest

from deploy.local.sms_spam import rows as sms_rows
from tests.support.platform import OrgClient
from tests.support.training import model_request, text_snapshot, wait_model

pytestmark = pytest.mark.slow


async def test_minilm_last_layer_on_sms_spam(org: OrgClient) -> None:
    rows = [{"text": text, "label": label} for label, text in sms_rows()[:800]]
    ready = await text_snapshot(org, rows, [{"column": "label"}])
    request = model_request("minilm-l6", ready["id"], "last_layer", max_epochs=40, class_weights="balanced")
    created_model = await org.post("/v1/models", json=request)
    assert created_model.status_code == 201, created_model.text
    model = await wait_model(org, created_model.json()["id"], timeout_s=600)
    assert model["status"] == "succeeded", model["error"]
    base = (await org.get("/v1/base-models/minilm-l6")).json()
    assert base["status"] == "ready"
    assert base["sha256"]
    metrics = (await org.get(f"/v1/models/{model['id']}/metrics")).json()
    assert metrics["heads"]["label"]["macro"]["f1"] > 0.85, metrics["heads"]["label"]["macro"]
    assert metrics["delta"]["overall"]["f1"] > 0.3
