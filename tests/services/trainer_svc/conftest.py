"""trainer-svc through the gateway: the platform with trainer-svc and real worker subprocesses, a tiny BERT
registered as an org's base model, and labelled text snapshots made through the public API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import postgres
from tests.support.platform import OrgClient, Platform, run_platform
from tests.support.training import register_tiny


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    url = await postgres.create_database()
    try:
        yield url
    finally:
        await postgres.drop_database(url)


@pytest.fixture
def trainer_overrides() -> dict[str, Any]:
    return {}


@pytest.fixture
def trainer_platform(tmp_path: Path, postgres_url: str, trainer_overrides: dict[str, Any]) -> Iterator[Platform]:
    """Every service on one Postgres database, trainer-svc included, sharing a filesystem store."""
    urls = {"dataset": postgres_url, "gateway": postgres_url, "trainer": postgres_url}
    with run_platform(tmp_path, urls, trainer_overrides=trainer_overrides) as running:
        yield running


@pytest.fixture
async def org(trainer_platform: Platform) -> AsyncIterator[OrgClient]:
    async with trainer_platform.org("trainers") as client:
        yield client


@pytest.fixture
async def tiny_base(org: OrgClient, trainer_platform: Platform, tiny_bert: Path) -> dict[str, Any]:
    return await register_tiny(org, trainer_platform, tiny_bert)
