from __future__ import annotations

import asyncio
import hashlib
import os

import httpx

from tests.services.gateway.conftest import start_echo, start_live_gateway
from tests.support.api import INTERNAL_TOKEN, bearer, deployment_key
from tests.support.ports import free_port


async def test_forwards_with_org_key_and_request_id_and_strips_credentials(live):
    async with httpx.AsyncClient(base_url=live.gateway_url) as client:
        response = await client.get(
            "/v1/echo", params={"q": "1"}, headers=bearer(live.admin_key) | {"X-Request-ID": "req-abc.123"}
        )
    assert response.status_code == 200
    body = response.json()
    assert body["org_id"] == live.org_id
    assert body["key_scope"] == "admin"
    assert body["key_id"].startswith("key_")
    assert body["request_id"] == "req-abc.123"
    assert body["query"] == "q=1"
    assert body["has_authorization"] is False
    assert response.headers["x-request-id"] == "req-abc.123"


async def test_caller_cannot_forge_org_or_internal_token(live):
    forged = {"X-Org-Id": "org_victim", "X-Internal-Token": "guess", "X-Key-Scope": "admin"}
    async with httpx.AsyncClient(base_url=live.gateway_url) as client:
        body = (await client.get("/v1/echo", headers=bearer(live.admin_key) | forged)).json()
    assert body.get("org_id") == live.org_id, body


async def test_requires_a_key_before_reaching_the_service(live):
    async with httpx.AsyncClient(base_url=live.gateway_url) as client:
        response = await client.get("/v1/echo")
    assert response.status_code == 401
    assert response.json()["error"] == "Unauthorized"


async def test_service_errors_pass_through_in_the_one_shape(live):
    async with httpx.AsyncClient(base_url=live.gateway_url) as client:
        response = await client.post("/v1/echo/conflict", headers=bearer(live.admin_key))
    assert response.status_code == 409
    assert response.json()["error"] == "Conflict"
    assert response.json()["request_id"] == response.headers["x-request-id"]


async def test_streams_large_bodies_both_ways(tmp_path):
    limit = {"max_body_bytes": 64 * 1024 * 1024}
    for echo in start_echo(tmp_path, **limit):
        for live in start_live_gateway(tmp_path, echo, **limit):
            await _stream_both_ways(live)


async def _stream_both_ways(live):
    size = 32 * 1024 * 1024 + 123
    block = os.urandom(1024 * 1024)
    expected = hashlib.sha256()

    async def body():
        remaining = size
        while remaining:
            piece = block[: min(remaining, len(block))]
            expected.update(piece)
            remaining -= len(piece)
            yield piece

    async with httpx.AsyncClient(base_url=live.gateway_url, timeout=60) as client:
        headers = bearer(live.admin_key) | {"Content-Length": str(size)}
        upload = await client.post("/v1/echo/upload", content=body(), headers=headers)
        assert upload.status_code == 200, upload.text
        assert upload.json() == {"bytes": size, "sha256": expected.hexdigest()}

        received = 0
        async with client.stream(
            "GET", "/v1/echo/download", params={"size": size}, headers=bearer(live.admin_key)
        ) as response:
            assert response.status_code == 200
            async for chunk in response.aiter_bytes():
                received += len(chunk)
        assert received == size


async def test_oversized_body_is_413(live):
    async with httpx.AsyncClient(base_url=live.gateway_url) as client:
        declared = await client.post(
            "/v1/echo/upload", content=b"x" * (2 * 1024 * 1024), headers=bearer(live.admin_key)
        )
        assert declared.status_code == 413
        assert declared.json()["error"] == "PayloadTooLarge"

        async def chunked():
            for _ in range(3):
                yield b"x" * (1024 * 1024)

        streamed = await client.post("/v1/echo/upload", content=chunked(), headers=bearer(live.admin_key))
        assert streamed.status_code == 413
        assert streamed.json()["error"] == "PayloadTooLarge"


async def test_upstream_timeout_is_504(live):
    async with httpx.AsyncClient(base_url=live.gateway_url, timeout=10) as client:
        response = await client.get("/v1/echo/slow", params={"seconds": 3}, headers=bearer(live.admin_key))
    assert response.status_code == 504
    assert response.json()["error"] == "GatewayTimeout"


def test_upstream_down_is_503(tmp_path):
    closed = f"http://127.0.0.1:{free_port()}"
    for stack in start_live_gateway(tmp_path, closed):
        response = httpx.get(f"{stack.gateway_url}/v1/echo", headers=bearer(stack.admin_key))
        assert response.status_code == 503
        assert response.json()["error"] == "ServiceUnavailable"
        assert response.headers["retry-after"] == "1"


async def test_service_refuses_calls_without_the_internal_token(live):
    async with httpx.AsyncClient(base_url=live.echo_url) as client:
        missing = await client.get("/v1/echo")
        wrong = await client.get("/v1/echo", headers={"X-Internal-Token": "wrong"})
        right = await client.get("/v1/echo", headers={"X-Internal-Token": INTERNAL_TOKEN, "X-Org-Id": "org_1"})
    assert missing.status_code == 401 and missing.json()["error"] == "Unauthorized"
    assert wrong.status_code == 401
    assert right.status_code == 200


async def test_two_hundred_concurrent_requests_all_succeed(live_default_timeout):
    live = live_default_timeout
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=live.gateway_url, limits=limits, timeout=60) as client:
        responses = await asyncio.gather(
            *(client.get("/v1/echo", params={"n": str(index)}, headers=bearer(live.admin_key)) for index in range(200))
        )
    assert [response.status_code for response in responses] == [200] * 200
    assert sorted(response.json()["query"] for response in responses) == sorted(f"n={index}" for index in range(200))


async def test_deployment_scoped_key_reaches_only_its_predict(live):
    async with httpx.AsyncClient(base_url=live.gateway_url) as client:
        scoped = await deployment_key(client, live.admin_key, "dep_00000000000000000000000001")
        for method, path in [
            ("GET", "/v1/echo"),
            ("GET", "/v1/deployments/dep_00000000000000000000000001"),
            ("POST", "/v1/deployments/dep_00000000000000000000000002/predict"),
        ]:
            response = await client.request(method, path, headers=bearer(scoped))
            assert response.status_code == 403, path
            assert response.json()["error"] == "Forbidden"


def test_upstream_that_breaks_the_connection_is_502(tmp_path):
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    stop = threading.Event()

    def accept_and_hang_up() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            connection.recv(65536)
            connection.sendall(b"this is not HTTP\r\n\r\n")
            connection.close()

    thread = threading.Thread(target=accept_and_hang_up, daemon=True)
    thread.start()
    try:
        for stack in start_live_gateway(tmp_path, f"http://127.0.0.1:{listener.getsockname()[1]}"):
            response = httpx.get(f"{stack.gateway_url}/v1/echo", headers=bearer(stack.admin_key))
            assert response.status_code == 502
            assert response.json()["error"] == "BadGateway"
    finally:
        stop.set()
        thread.join()
        listener.close()


async def test_metrics_label_proxied_routes_by_template(live):
    async with httpx.AsyncClient(base_url=live.gateway_url) as client:
        for index in range(3):
            await client.get(f"/v1/echo/item-{index}", headers=bearer(live.admin_key))
        await client.get("/v1/echo", headers=bearer(live.admin_key))
        metrics = (await client.get("/metrics")).text
    assert 'route="/v1/echo/{rest:path}"' in metrics
    assert 'route="/v1/echo",service="gateway",status="200"' in metrics
    assert "item-1" not in metrics
