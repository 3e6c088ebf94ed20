from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from gateway.app import create_app
from gateway.settings import GatewaySettings
from tests.conftest import service_env
from tests.support.api import OPERATOR_KEY
from tests.support.echo import EchoSettings, create_echo_app, deployments_stand_in
from tests.support.servers import running_server


@dataclass
class LiveStack:
    gateway_url: str
    echo_url: str
    admin_key: str
    org_id: str


def start_echo(tmp_path: Path, **overrides: object) -> Iterator[str]:
    settings = EchoSettings(
        **service_env(tmp_path / "echo", f"sqlite+aiosqlite:///{tmp_path / 'echo.db'}", **overrides)
    )
    with running_server(create_echo_app(settings)) as url:
        yield url


@pytest.fixture
def echo_url(tmp_path: Path) -> Iterator[str]:
    yield from start_echo(tmp_path)


def start_live_gateway(tmp_path: Path, echo_url: str, **overrides: object) -> Iterator[LiveStack]:
    with running_server(deployments_stand_in()) as inference_url:
        yield from _live_gateway(tmp_path, echo_url, inference_url=inference_url, **overrides)


def _live_gateway(tmp_path: Path, echo_url: str, **overrides: object) -> Iterator[LiveStack]:
    settings = GatewaySettings(
        **service_env(
            tmp_path / "gateway",
            f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}",
            operator_key=OPERATOR_KEY,
            extra_routes={"/v1/echo": echo_url},
            **overrides,
        )
    )
    with running_server(create_app(settings)) as gateway_url:
        created = httpx.post(
            f"{gateway_url}/v1/orgs", json={"name": "acme"}, headers={"Authorization": f"Bearer {OPERATOR_KEY}"}
        ).json()
        yield LiveStack(gateway_url, echo_url, created["admin_key"], created["id"])


@pytest.fixture
def live(tmp_path: Path, echo_url: str) -> Iterator[LiveStack]:
    """A real gateway server in front of a real echo service."""
    yield from start_live_gateway(tmp_path, echo_url, upstream_timeout_s=1.0)


@pytest.fixture
def live_default_timeout(tmp_path: Path, echo_url: str) -> Iterator[LiveStack]:
    """``live`` with the default upstream timeout: under a burst of requests, the last answers from an echo
    server sharing the test process (and 2 cores) with the gateway and the client can take more than 1 s."""
    yield from start_live_gateway(tmp_path, echo_url)
