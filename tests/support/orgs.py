"""An org of the test platform made through the SDK, with a tiny base model registered and a labelled CSV."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from automl_client import Client
from automl_common.storage import create_store, upload_directory
from tests.support.platform import Platform
from tests.support.training import review_rows, to_csv


@dataclass
class Org:
    url: str
    org_id: str
    key: str
    base_model_id: str
    csv: Path  # 120 labelled reviews: text, sentiment


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
