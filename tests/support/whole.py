"""Module-scoped fixtures of the whole platform (gateway, the four services, workers as real processes, the
process's one local Ray) on a Postgres database of its own; a test module imports them (and lists them in
``__all__``) to share one platform between its tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.support import postgres
from tests.support.platform import Platform, run_platform


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
