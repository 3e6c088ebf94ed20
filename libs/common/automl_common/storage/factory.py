"""Build the object store a service's settings describe."""

from __future__ import annotations

from automl_common.settings import ServiceSettings
from automl_common.storage.base import ObjectStore
from automl_common.storage.filesystem import FilesystemStore
from automl_common.storage.s3 import S3Store


async def create_store(settings: ServiceSettings) -> ObjectStore:
    if settings.resolved_store_backend == "filesystem":
        return FilesystemStore(settings.resolved_store_root)
    secret = settings.s3_secret_access_key.get_secret_value() if settings.s3_secret_access_key else None
    store = S3Store(
        settings.s3_bucket,
        endpoint_url=settings.s3_endpoint_url,
        region=settings.s3_region,
        access_key_id=settings.s3_access_key_id,
        secret_access_key=secret,
        part_size=settings.s3_part_size,
    )
    if settings.s3_create_bucket:
        await store.ensure_bucket()
    return store
