"""LLM data for tests through the API: yes / no questions a tiny Llama learns in a few epochs, as prompt /
completion pairs and as chat messages, and an llm snapshot made of them."""

from __future__ import annotations

import json
import random
from typing import Any

from tests.support.platform import OrgClient
from tests.support.tiny_models import NEGATIVE, POSITIVE, TOPICS


def yes_no_records(count: int, seed: int, *, overlong: bool = True) -> list[dict[str, Any]]:
    """'is it <word>' answered 'yes' for a positive word, 'no' for a negative one; with ``overlong``, one more
    row whose prompt is longer than 32 tokens. The prompts vary (a topic after the word), so that each word is in
    several prompts: a split keeps a repeated prompt in one part, and a model is then scored on prompts it has
    not seen, with words it has."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    topics = [word for words in TOPICS.values() for word in words]
    for _ in range(count):
        word = rng.choice(POSITIVE + NEGATIVE)
        answer = "yes" if word in POSITIVE else "no"
        after = rng.choice(["", *(f" {topic}" for topic in topics)])
        out.append(
            {
                "prompt": f"is it {word}{after}",
                "completion": answer,
                "chat": [
                    {"role": "system", "content": "answer yes or no"},
                    {"role": "user", "content": f"is it {word}{after}"},
                    {"role": "assistant", "content": answer},
                ],
            }
        )
    if overlong:
        out.append({"prompt": "is it " + "very " * 40 + "good", "completion": "yes", "chat": out[0]["chat"]})
    return out


async def llm_snapshot(org: OrgClient, rows: list[dict[str, Any]], **columns: str) -> dict[str, Any]:
    """Upload ``rows`` as JSON lines and snapshot them as an llm snapshot with ``columns`` (prompt_column and
    completion_column, or messages_column)."""
    content = ("\n".join(json.dumps(row) for row in rows) + "\n").encode()
    created = await org.upload("chat.jsonl", content)
    assert created.status_code == 201, created.text
    dataset = await org.wait_dataset(created.json()["id"])
    assert dataset["status"] == "ready", dataset
    mapping = {"prompt": "text", "completion": "text", "chat": "json"}
    response = await org.put(f"/v1/datasets/{dataset['id']}/columns", json={"columns": mapping})
    assert response.status_code == 200, response.text
    body = {"dataset_id": dataset["id"], "name": "chat", "type": "llm", **columns}
    response = await org.post("/v1/snapshots", json=body)
    assert response.status_code == 201, response.text
    snapshot = await org.wait_snapshot(response.json()["id"])
    assert snapshot["status"] == "ready", snapshot
    return snapshot


def llm_request(base_id: str, snapshot_id: str, method: str, **options: Any) -> dict[str, Any]:
    return {
        "name": f"{method} llm",
        "model_type": "llm",
        "base_model": base_id,
        "method": method,
        "train_snapshot_id": snapshot_id,
        "test_split_pct": 25,
        "options": {"max_length": 32} | options,
    }
