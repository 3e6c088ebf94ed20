"""Helpers for calling the public API in tests."""

from __future__ import annotations

from typing import Any

import httpx

INTERNAL_TOKEN = "test-internal-token-0123456789abcdef"
OPERATOR_KEY = "test-operator-key-0123456789abcdefgh"


async def create_org(client: httpx.AsyncClient, name: str = "acme") -> dict[str, Any]:
    response = await client.post("/v1/orgs", json={"name": name}, headers={"Authorization": f"Bearer {OPERATOR_KEY}"})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def deployment_key(client: httpx.AsyncClient, admin_key: str, deployment_id: str) -> str:
    """A new key scoped to one deployment (its predict and generations only)."""
    created = await client.post(
        "/v1/keys",
        json={"name": "scoped", "scope": "deployment", "deployment_id": deployment_id},
        headers=bearer(admin_key),
    )
    assert created.status_code == 201, created.text
    key: str = created.json()["key"]
    return key
