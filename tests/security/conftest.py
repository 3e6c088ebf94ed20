"""Fixtures of the security tests: the small platform of tests/services (gateway, dataset-svc, snapshot-svc)
per test, and a whole one (trainer-svc and inference-svc too, on the process's one local Ray) per module."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.services.conftest import platform, tiny_bert
from tests.support import postgres
from tests.support.platform import Platform, run_platform

__all__ = ["full_platform", "module_postgres_url", "platform", "tiny_bert"]


@pytest.fixture(scope="module")
async def module_postgres_url() -> AsyncIterator[str]:
    url = await postgres.create_database()
    try:
        yield url
    finally:
        await postgres.drop_database(url)


@pytest.fixture(scope="module")
def full_platform(tmp_path_factory: pytest.TempPathFactory, module_postgres_url: str) -> Iterator[Platform]:
    urls = {name: module_postgres_url for name in ("dataset", "gateway", "trainer", "inference")}
    with run_platform(
        tmp_path_factory.mktemp("platform"), urls, trainer_overrides={}, inference_overrides={}
    ) as running:
        yield running
