"""The client address the gateway holds a request to (``gateway.clients``)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from gateway.clients import client_address, networks
from gateway.settings import GatewaySettings

TRUSTED = networks(["10.0.0.0/8", "fd00::/8"])


def scope(peer: str | None, *forwarded: str) -> dict[str, Any]:
    return {
        "client": (peer, 5000) if peer else None,
        "headers": [(b"x-forwarded-for", value.encode()) for value in forwarded],
    }


@pytest.mark.parametrize(
    ("request_scope", "expected"),
    [
        (scope("198.51.100.1", "203.0.113.5"), "198.51.100.1"),  # not a trusted peer: its header is ignored
        (scope("10.0.0.2", "203.0.113.5"), "203.0.113.5"),
        (scope("10.0.0.2", "192.0.2.9, 203.0.113.5, 10.0.0.7"), "203.0.113.5"),  # past our own proxies
        (scope("10.0.0.2", "192.0.2.9", "203.0.113.5"), "203.0.113.5"),  # several headers are one list
        (scope("10.0.0.2"), "10.0.0.2"),  # a proxy sending no header is held to the limits itself
        (scope("10.0.0.2", "10.0.0.3"), "10.0.0.2"),  # only proxies of ours in the chain
        (scope("10.0.0.2", "not-an-address"), "10.0.0.2"),
        (scope("fd00::1", "2001:db8::5"), "2001:db8::5"),
        (scope(None, "203.0.113.5"), "unknown"),
    ],
)
def test_the_client_is_the_first_hop_right_of_our_proxies(request_scope: dict[str, Any], expected: str) -> None:
    assert client_address(request_scope, TRUSTED) == expected


def test_without_trusted_proxies_the_peer_is_the_client() -> None:
    assert client_address(scope("10.0.0.2", "203.0.113.5"), ()) == "10.0.0.2"


def test_a_trusted_proxy_that_is_no_address_is_refused_at_start(tmp_path: Any) -> None:
    with pytest.raises(ValidationError, match="trusted_proxies"):
        GatewaySettings(data_dir=tmp_path, trusted_proxies=["the ingress"])
