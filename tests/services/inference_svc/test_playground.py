"""The playground: any succeeded model answers without a deployment, from one shared multiplexed Serve app,
while its free quota lasts. The quota is counted atomically in the gateway's database."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.support.platform import OrgClient, Platform


@pytest.fixture(scope="module")
def gateway_overrides() -> dict[str, Any]:
    return {"playground_quota": 500, "rate_limit_per_s": 10_000, "rate_limit_burst": 10_000}


async def test_playground_answers_and_counts_down(org: OrgClient, trained_model: dict[str, Any]) -> None:
    path = f"/v1/models/{trained_model['id']}/playground"
    first = await org.post(path, json={"input": "great lovely football match"})
    assert first.status_code == 200, first.text
    assert set(first.json()["heads"]) == {"sentiment", "tags"}
    assert first.headers["X-Playground-Remaining"] == "499"
    second = await org.post(path, json={"input": "awful song"})
    assert second.headers["X-Playground-Remaining"] == "498"
    # A refused input is not counted.
    image = await org.post(path, json={"input": {"image_url": "https://example.com/cat.png"}})
    assert image.status_code == 422
    assert image.json()["error"] == "WrongInputKind"
    assert image.headers["X-Playground-Remaining"] == "498"
    unknown = await org.post("/v1/models/model_00000000000000000000000000/playground", json={"input": "x"})
    assert unknown.status_code == 404


async def test_concurrent_calls_never_overspend_the_quota(
    org: OrgClient, trained_model: dict[str, Any], inference_platform: Platform
) -> None:
    """600 calls at once against what is left of a quota of 500: exactly that many answered, the rest 429."""
    path = f"/v1/models/{trained_model['id']}/playground"
    left = int((await org.post(path, json={"input": "fine"})).headers["X-Playground-Remaining"])
    semaphore = asyncio.Semaphore(200)

    async def call(index: int) -> tuple[int, dict[str, Any], str]:
        async with semaphore:
            response = await org.post(path, json={"input": f"good match {index}"})
            return response.status_code, response.json(), response.headers["X-Playground-Remaining"]

    results = await asyncio.gather(*(call(i) for i in range(600)))
    answered = [r for r in results if r[0] == 200]
    refused = [r for r in results if r[0] == 429]
    # A call the model did not answer (an upstream 5xx under this load; one CI run in three saw one) must have
    # given its query back: the quota still buys exactly `left` answers.
    unanswered = [r for r in results if r[0] not in (200, 429)]
    assert all(status in (502, 503, 504) for status, _, _ in unanswered), unanswered
    assert len(unanswered) <= 3, unanswered
    assert len(answered) == left
    assert len(refused) == 600 - left - len(unanswered)
    assert left > 400  # most of the quota was left for this test
    assert all(body["error"] == "PlaygroundQuotaExhausted" for _, body, _ in refused)
    assert "deploy" in refused[0][1]["detail"]
    assert all(remaining == "0" for _, _, remaining in refused)
    assert sorted(int(remaining) for _, _, remaining in answered) == list(range(left))
    after = await org.post(path, json={"input": "fine"})
    assert after.status_code == 429
    metrics = (await org.get(f"{inference_platform.gateway_url}/metrics")).text
    exhausted = [line for line in metrics.splitlines() if line.startswith("automl_playground_quota_exhausted_total ")]
    assert exhausted and float(exhausted[0].split()[1]) >= len(refused) + 1  # every refusal counted, for the alert


async def test_another_org_cannot_use_the_model(inference_platform: Platform, trained_model: dict[str, Any]) -> None:
    async with inference_platform.org("outsiders") as other:
        response = await other.post(f"/v1/models/{trained_model['id']}/playground", json={"input": "good"})
        assert response.status_code == 404
        assert response.headers["X-Playground-Remaining"] == "500"
