"""One whole platform (gateway, the four services, workers as real processes, the local Ray) for the SDK and
CLI tests, an org with its admin key, and what the journey needs: a tiny base model and a labelled CSV."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from automl_client import Client
from automl_common.storage import create_store, upload_directory
from tests.services.conftest import tiny_bert
from tests.support import postgres
from tests.support.platform import Platform, run_platform
from tests.support.training import review_rows, to_csv

__all__ = ["Org", "sdk_platform", "tiny_bert"]


@dataclass
class Org:
    url: str
    org_id: str
    key: str
    base_model_id: str
    csv: Path  # 120 labelled reviews: text, sentiment


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


def new_org(platform: Platform, name: str, tiny_bert: Path, tmp_path: Path) -> Org:
    """An org, with the tiny model's files put in its part of the store and registered through the SDK."""
    from tests.support.api import OPERATOR_KEY

    with Client(platform.gateway_url, OPERATOR_KEY) as operator:
        created = operator.orgs.create(name)
    prefix = f"orgs/{created.id}/uploads/tiny-bert/"

    async def upload() -> None:
        store = await create_store(platform.apps["trainer"].state.settings)
        try:
            await upload_directory(store, tiny_bert, prefix)
        finally:
            await store.close()

    asyncio.run(upload())
    with Client(platform.gateway_url, created.admin_key) as client:
        base = client.base_models.register(name="tiny-bert", store_path=prefix)
    csv = tmp_path / f"{name}.csv"
    csv.write_bytes(to_csv(review_rows(120, seed=3)))
    return Org(platform.gateway_url, created.id, created.admin_key, base.id, csv)
