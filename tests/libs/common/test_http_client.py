from __future__ import annotations

import httpx
import pytest

from automl_common.context import request_id_var
from automl_common.errors import BadGateway, GatewayTimeout, ServiceUnavailable
from automl_common.http import InternalClient
from tests.support.ports import free_port


async def test_internal_client_carries_token_request_id_and_org():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True})

    client = InternalClient("snapshot-svc", "http://snapshot", "secret-token", transport=httpx.MockTransport(handler))
    token = request_id_var.set("req-42")
    try:
        response = await client.request("GET", "/v1/snapshots", org_id="org_9")
    finally:
        request_id_var.reset(token)
        await client.aclose()
    assert response.json() == {"ok": True}
    headers = seen[0].headers
    assert headers["x-internal-token"] == "secret-token"
    assert headers["x-request-id"] == "req-42"
    assert headers["x-org-id"] == "org_9"


async def test_transport_failures_map_to_gateway_errors():
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    def broken(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("garbage", request=request)

    for handler, expected in ((timeout, GatewayTimeout), (broken, BadGateway)):
        client = InternalClient("svc", "http://svc", "t", transport=httpx.MockTransport(handler))
        with pytest.raises(expected):
            await client.request("GET", "/")
        await client.aclose()

    # A real refused connection, not a mock.
    client = InternalClient("svc", f"http://127.0.0.1:{free_port()}", "t")
    with pytest.raises(ServiceUnavailable):
        await client.request("GET", "/")
    await client.aclose()
