"""The first steps of the journey over plain HTTP, against a platform started by `make up`."""

from __future__ import annotations

import time

import httpx


def walk_the_journey(gateway: str, admin_key: str) -> str:
    """Dataset to snapshot through the gateway of `make up` (the services find each other on their ports);
    the ready snapshot's id."""
    with httpx.Client(base_url=gateway, headers={"Authorization": f"Bearer {admin_key}"}, timeout=30) as client:
        return _journey(client)


def _journey(client: httpx.Client) -> str:
    rows = "".join(f"message {index},{'spam' if index % 3 == 0 else 'ham'}\n" for index in range(60))
    created = client.post(
        "/v1/datasets", files={"file": ("sms.csv", b"text,label\n" + rows.encode())}, data={"name": "sms"}
    )
    assert created.status_code == 201, created.text
    dataset_id = created.json()["id"]
    deadline = time.monotonic() + 30
    while client.get(f"/v1/datasets/{dataset_id}").json()["status"] == "processing" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert client.put(f"/v1/datasets/{dataset_id}/columns", json={"columns": {"text": "text"}}).status_code == 200
    snapshot = client.post(
        "/v1/snapshots",
        json={
            "dataset_id": dataset_id,
            "name": "sms",
            "type": "text_classification",
            "input_column": "text",
            "heads": [{"column": "label"}],
        },
    )
    assert snapshot.status_code == 201, snapshot.text
    snapshot_id: str = snapshot.json()["id"]
    while client.get(f"/v1/snapshots/{snapshot_id}").json()["status"] == "creating" and time.monotonic() < deadline:
        time.sleep(0.1)
    ready = client.get(f"/v1/snapshots/{snapshot_id}").json()
    assert ready["status"] == "ready", ready
    assert ready["row_count"] == 60
    return snapshot_id
