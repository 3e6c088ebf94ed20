"""One whole platform (gateway, the four services, workers as real processes, the local Ray) for the SDK and
CLI tests, an org with its admin key, and what the journey needs: a tiny base model and a labelled CSV."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.services.conftest import tiny_bert
from tests.support import postgres
from tests.support.orgs import Org, new_org
from tests.support.platform import Platform, run_platform

__all__ = ["Org", "new_org", "sdk_platform", "tiny_bert"]


@pytest.fixture(scope="package")
async def sdk_database() -> AsyncIterator[str]:
    url = await postgres.create_database()
    try:
        yield url
    finally:
        await postgres.drop_database(url)


@pytest.fixture(scope="package")
def sdk_platform(tmp_path_factory: pytest.TempPathFactory, sdk_database: str) -> Iterator[Platform]:
    urls = {name: sdk_database for name in ("dataset", "gateway", "trainer", "inference")}
    with run_platform(
        tmp_path_factory.mktemp("platform"), urls, trainer_overrides={}, inference_overrides={}
    ) as running:
        yield running
