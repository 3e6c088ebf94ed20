"""Build the object store a service's settings (or a narrower ``StoreConfig``) describe."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, SecretStr

from automl_common.settings import ServiceSettings
from automl_common.storage.base import ObjectStore
from automl_common.storage.filesystem import FilesystemStore
from automl_common.storage.s3 import S3Store


class StoreConfig(BaseModel):
    """Only what reaching the object store needs: what a replica is given instead of a service's settings
    (which hold the internal token and the database URL)."""

    backend: Literal["filesystem", "s3"]
    root: Path
    s3_endpoint_url: str | None = None
    s3_bucket: str = "automl"
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    s3_part_size: int = 8 * 1024 * 1024
    s3_create_bucket: bool = False

    @classmethod
    def of(cls, settings: ServiceSettings) -> StoreConfig:
        return cls(
            backend=settings.resolved_store_backend,
            root=settings.resolved_store_root,
            s3_endpoint_url=settings.s3_endpoint_url,
            s3_bucket=settings.s3_bucket,
            s3_region=settings.s3_region,
            s3_access_key_id=settings.s3_access_key_id,
            s3_secret_access_key=settings.s3_secret_access_key,
            s3_part_size=settings.s3_part_size,
            s3_create_bucket=settings.s3_create_bucket,
        )


async def create_store(settings: ServiceSettings | StoreConfig) -> ObjectStore:
    config = settings if isinstance(settings, StoreConfig) else StoreConfig.of(settings)
    if config.backend == "filesystem":
        return FilesystemStore(config.root)
    secret = config.s3_secret_access_key.get_secret_value() if config.s3_secret_access_key else None
    store = S3Store(
        config.s3_bucket,
        endpoint_url=config.s3_endpoint_url,
        region=config.s3_region,
        access_key_id=config.s3_access_key_id,
        secret_access_key=secret,
        part_size=config.s3_part_size,
    )
    if config.s3_create_bucket:
        await store.ensure_bucket()
    return store
