"""Org isolation and id hygiene over the whole route table, taken from the services' own OpenAPI documents (a
new route is in the matrix without anyone adding it here).

Org A owns one of everything (dataset, row, snapshot, split, model, base model, deployment, task, batch
prediction, key). For every public route with an id in its path, org B calls it with A's ids, with its own
parent and A's child (mixed), and with ids that exist nowhere: B's answer for A's ids must be exactly the
answer for ids that do not exist (same status and error class), never a success. Afterwards A's resources
are all still there, unchanged. Then every id parameter gets hostile values (``?``, ``#``, an encoded ``/``,
``..``, control characters, 200 characters): a 404 or 422, never a success or a 500, and no quota moves."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from automl_common.context import INTERNAL_TOKEN_HEADER, ORG_ID_HEADER
from automl_common.ids import new_id
from tests.support.api import INTERNAL_TOKEN, OPERATOR_KEY
from tests.support.platform import OrgClient, Platform
from tests.support.training import model_request, register_tiny, review_rows, text_snapshot, wait_model

HEADS: list[dict[str, Any]] = [{"column": "sentiment"}]
PARAM = re.compile(r"\{([a-z_]+)\}")
SERVICES = ("dataset", "snapshot", "trainer", "inference")
# Sent as they are (already percent-encoded where a client would encode): decoded, they hold '?', '#', '/',
# '..', a control character; and two ids of the wrong shape.
HOSTILE = ["x%3Fy%3D1", "x%23frag", "x%2F..%2Fy", "..", "%2e%2e", "model_%01bad", "a" * 200, "MODEL_01ABC"]


@pytest.fixture(scope="module")
def isolated(full_platform: Platform) -> Platform:
    return full_platform


@pytest.fixture(scope="module")
async def owner(isolated: Platform, tiny_bert: Any) -> AsyncIterator[tuple[OrgClient, dict[str, Any]]]:
    """Org A and one resource of every kind it can own."""
    async with isolated.org("owner") as client:
        base = await register_tiny(client, isolated, tiny_bert)
        snapshot = await text_snapshot(client, review_rows(120, seed=5), HEADS)
        split = (await client.post(f"/v1/snapshots/{snapshot['id']}/splits", json={"test_pct": 20})).json()
        created = await client.post("/v1/models", json=model_request(base["id"], snapshot["id"], max_epochs=5))
        model = await wait_model(client, created.json()["id"])
        assert model["status"] == "succeeded", model
        deployment = (
            await client.post("/v1/deployments", json={"model_id": model["id"], "name": "a", "min_replicas": 0})
        ).json()
        task = (await client.post(f"/v1/deployments/{deployment['id']}/tasks", json={"inputs": ["fine"]})).json()
        batch = (
            await client.post("/v1/batch-predictions", json={"model_id": model["id"], "snapshot_id": snapshot["id"]})
        ).json()
        key = (await client.post("/v1/keys", json={"name": "a"})).json()
        row = (await client.get(f"/v1/datasets/{snapshot['dataset_id']}/rows", params={"limit": 1})).json()
        ids = {
            "dataset_id": snapshot["dataset_id"],
            "row_id": row["items"][0]["id"],
            "snapshot_id": snapshot["id"],
            "split_id": split["id"],
            "model_id": model["id"],
            "base_model_id": base["id"],
            "deployment_id": deployment["id"],
            "task_id": task["task_id"],
            "batch_id": batch["id"],
            "key_id": key["id"],
            "org_id": client.org_id,  # the operator's routes for an org (an org's own keys get 401 there)
        }
        yield client, ids


def route_table(platform: Platform) -> list[tuple[str, str]]:
    """(method, path template) of every public route with a path parameter: the services' documents and the
    gateway's own."""
    routes: set[tuple[str, str]] = set()
    documents = [
        httpx.get(
            f"{platform.service_urls[name]}/openapi.json",
            headers={INTERNAL_TOKEN_HEADER: INTERNAL_TOKEN, ORG_ID_HEADER: "org_" + "0" * 26},
        ).json()
        for name in SERVICES
    ]
    documents.append(httpx.get(f"{platform.gateway_url}/openapi.json").json())
    for document in documents:
        for path, item in document["paths"].items():
            for method in ("get", "post", "put", "patch", "delete"):
                if method in item and PARAM.search(path):
                    routes.add((method.upper(), path))
    return sorted(routes)


def fill(template: str, values: dict[str, Any]) -> str:
    return PARAM.sub(lambda match: str(values[match.group(1)]), template)


def nowhere(ids: dict[str, Any]) -> dict[str, Any]:
    """Ids of the same shapes that exist nowhere."""
    prefixes = {name: str(value).split("_", 1)[0] for name, value in ids.items() if isinstance(value, str)}
    made: dict[str, Any] = {name: new_id(prefix) for name, prefix in prefixes.items()}
    made["row_id"] = 999_999_999
    made["base_model_id"] = new_id("bm")
    return made


async def call(client: OrgClient, method: str, path: str) -> httpx.Response:
    if method in ("POST", "PUT", "PATCH"):
        return await client.request(method, path, json={})
    return await client.request(method, path)


async def raw_request(base_url: str, method: str, path: str, key: str) -> tuple[int, str]:
    """One request with ``path`` sent byte for byte (an HTTP client would normalise '..' away)."""
    url = httpx.URL(base_url)
    reader, writer = await asyncio.open_connection(url.host, url.port)
    body = b"{}" if method in ("POST", "PUT", "PATCH") else b""
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: {url.host}:{url.port}\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    writer.write(head.encode() + body)
    await writer.drain()
    answer = await reader.read()
    writer.close()
    await writer.wait_closed()
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest.decode(errors="replace").split("\r\n\r\n", 1)[-1]


def outcome(response: httpx.Response) -> tuple[int, str]:
    try:
        error = response.json().get("error", "")
    except ValueError:
        error = ""
    return response.status_code, error


async def snapshot_of(client: OrgClient, ids: dict[str, Any]) -> dict[str, Any]:
    """What A can see of its resources (to check that B changed none of them)."""
    paths = {
        "dataset": f"/v1/datasets/{ids['dataset_id']}",
        "snapshot": f"/v1/snapshots/{ids['snapshot_id']}",
        "split": f"/v1/snapshots/{ids['snapshot_id']}/splits/{ids['split_id']}",
        "model": f"/v1/models/{ids['model_id']}",
        "base_model": f"/v1/base-models/{ids['base_model_id']}",
        "deployment": f"/v1/deployments/{ids['deployment_id']}",
        "task": f"/v1/tasks/{ids['task_id']}",
        "batch": f"/v1/batch-predictions/{ids['batch_id']}",
        "key": f"/v1/keys/{ids['key_id']}",
        "row": f"/v1/datasets/{ids['dataset_id']}/rows/{ids['row_id']}",
    }
    seen = {}
    for name, path in paths.items():
        response = await client.get(path)
        assert response.status_code == 200, (name, response.text)
        body = response.json()
        seen[name] = {k: body.get(k) for k in ("id", "name", "revoked_at", "values", "version") if k in body}
    return seen


@pytest.mark.slow
async def test_another_org_cannot_tell_a_resources_from_one_that_does_not_exist(isolated, owner):
    client_a, ids = owner
    before = await snapshot_of(client_a, ids)
    routes = route_table(isolated)
    assert len(routes) >= 30, routes  # every id-carrying route of the platform
    missing = nowhere(ids)
    leaks = []
    async with isolated.org("intruder") as intruder:
        own = await intruder.upload("b.csv", b"text,sentiment\nhi,positive\nyo,negative\n")
        own_ids = {"dataset_id": own.json()["id"]}
        # B's dataset ready first: a mixed call on a dataset still ingesting answers 409 DatasetNotReady, and
        # one that finished between the two calls of a pair would look like a difference between A's ids and none.
        assert (await intruder.wait_dataset(own_ids["dataset_id"]))["status"] == "ready"
        for method, template in routes:
            names = PARAM.findall(template)
            as_owner = await call(intruder, method, fill(template, ids))
            as_nobody = await call(intruder, method, fill(template, missing))
            if as_owner.status_code < 300 or outcome(as_owner) != outcome(as_nobody):
                leaks.append(f"{method} {template}: A's ids {outcome(as_owner)}, missing ids {outcome(as_nobody)}")
            if len(names) > 1 and names[0] in own_ids:  # B's own parent, A's child
                mixed = await call(intruder, method, fill(template, ids | own_ids))
                mixed_nobody = await call(intruder, method, fill(template, missing | own_ids))
                if mixed.status_code < 300 or outcome(mixed) != outcome(mixed_nobody):
                    leaks.append(f"{method} {template} (mixed): {outcome(mixed)} vs {outcome(mixed_nobody)}")
    assert leaks == [], "\n".join(leaks)
    assert await snapshot_of(client_a, ids) == before  # nothing of A's was changed or deleted


@pytest.mark.slow
async def test_hostile_id_values_are_refused_everywhere_and_move_no_quota(isolated, owner):
    client_a, ids = owner
    routes = route_table(isolated)
    answered = []
    bad = []
    playground = f"/v1/models/{ids['model_id']}/playground"
    first = await client_a.post(playground, json={"input": "fine"})
    assert first.status_code == 200, first.text
    remaining = int(first.headers["x-playground-remaining"])
    usage_before = (await client_a.get("/v1/usage")).json()
    for method, template in routes:
        for name in PARAM.findall(template):
            for value in HOSTILE:
                path = fill(template, ids | {name: value})
                # The operator's routes for an org take the operator key (an org's own key gets 401 there).
                key = OPERATOR_KEY if template.startswith("/v1/orgs/{") else client_a.admin_key
                status, text = await raw_request(isolated.gateway_url, method, path, key)
                answered.append(status)
                if status not in (404, 405, 422):
                    bad.append(f"{method} {template} {name}={value!r}: {status} {text[:200]}")
    assert bad == [], "\n".join(bad[:40])
    assert len(answered) >= len(routes) * len(HOSTILE)
    # No quota or meter moved for any of those: the next playground query is the next one of the quota.
    usage_after = (await client_a.get("/v1/usage")).json()
    next_query = await client_a.post(playground, json={"input": "fine"})
    assert next_query.status_code == 200, next_query.text
    assert int(next_query.headers["x-playground-remaining"]) == remaining - 1
    assert usage_after == usage_before
