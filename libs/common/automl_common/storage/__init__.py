"""Object stores: one interface, a filesystem implementation (local mode) and an S3 one (boto3)."""

from automl_common.storage.base import (
    InvalidObjectKey,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    ObjectStream,
    validate_key,
)
from automl_common.storage.factory import create_store
from automl_common.storage.files import download_file, download_prefix, upload_directory, upload_file
from automl_common.storage.filesystem import FilesystemStore
from automl_common.storage.s3 import S3Store

__all__ = [
    "FilesystemStore",
    "InvalidObjectKey",
    "ObjectInfo",
    "ObjectNotFound",
    "ObjectStore",
    "ObjectStream",
    "S3Store",
    "create_store",
    "download_file",
    "download_prefix",
    "upload_directory",
    "upload_file",
    "validate_key",
]
