"""Object stores: one interface, a filesystem implementation (local mode) and an S3 one (boto3)."""

from automl_common.storage.base import (
    InvalidObjectKey,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    ObjectStream,
    StoreUnavailable,
    validate_key,
)
from automl_common.storage.factory import StoreConfig, create_store
from automl_common.storage.files import download_file, download_prefix, upload_directory, upload_file
from automl_common.storage.filesystem import FilesystemStore
from automl_common.storage.keys import image_key, org_images_prefix, thumbnail_key
from automl_common.storage.s3 import S3Store
from automl_common.storage.scoped import OutOfScope, ScopedStore, StoreScope

__all__ = [
    "FilesystemStore",
    "InvalidObjectKey",
    "ObjectInfo",
    "ObjectNotFound",
    "ObjectStore",
    "ObjectStream",
    "OutOfScope",
    "S3Store",
    "ScopedStore",
    "StoreConfig",
    "StoreScope",
    "StoreUnavailable",
    "create_store",
    "download_file",
    "download_prefix",
    "image_key",
    "org_images_prefix",
    "thumbnail_key",
    "upload_directory",
    "upload_file",
    "validate_key",
]
