"""Dataset use cases: upload, read, list, delete, confirm the column mapping."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy.ext.asyncio import AsyncSession

from automl_common.db import utcnow
from automl_common.errors import BadRequest, Conflict, InvalidRequest, NotFound
from automl_common.ids import new_id
from automl_common.quotas import OrgQuotaExceeded, enforce_org_quota
from automl_common.schemas import Page
from automl_common.storage import ObjectStore, image_key, thumbnail_key
from automl_proto import datasets as schemas
from automl_proto.datasets import IMAGE_COLUMN_TYPES
from dataset_svc.datasets.parsing import (
    CsvParser,
    JsonlParser,
    UploadFormatError,
    decode_lines,
    detect_format,
)
from dataset_svc.datasets.repository import DatasetRepository
from dataset_svc.datasets.upload import MultipartUpload
from dataset_svc.datasets.worker import Ingestor
from dataset_svc.images.repository import AssetRepository
from dataset_svc.models import Dataset, DatasetColumn
from dataset_svc.settings import DatasetSettings

logger = logging.getLogger(__name__)


class DatasetNotFound(NotFound):
    pass


class DatasetNotReady(Conflict):
    pass


class UnknownColumn(InvalidRequest):
    pass


def source_key(org_id: str, dataset_id: str) -> str:
    return f"orgs/{org_id}/datasets/{dataset_id}/source"


async def get_dataset_row(session: AsyncSession, org_id: str, dataset_id: str) -> Dataset:
    dataset = await DatasetRepository(session).get_in_org(org_id, dataset_id)
    if dataset is None:
        raise DatasetNotFound(f"dataset {dataset_id!r} not found")
    return dataset


def require_ready(dataset: Dataset) -> None:
    if dataset.status != "ready":
        raise DatasetNotReady(f"dataset {dataset.id!r} is {dataset.status}; it can be changed once it is ready")


async def to_schema(session: AsyncSession, dataset: Dataset) -> schemas.Dataset:
    columns = await DatasetRepository(session).columns(dataset.id)
    counts = await AssetRepository(session).counts(dataset.id)
    return schemas.Dataset(
        id=dataset.id,
        name=dataset.name,
        status=dataset.status,
        version=dataset.version,
        row_count=dataset.row_count,
        invalid_row_count=dataset.invalid_row_count,
        columns=[column_schema(column) for column in columns],
        mapping_confirmed=dataset.mapping_confirmed,
        error=dataset.error,
        source=schemas.SourceFile(
            filename=dataset.source_filename,
            format=dataset.source_format,
            bytes=dataset.source_bytes,
            sha256=dataset.source_sha256,
        ),
        images=schemas.ImageCounts(**counts),
        created_at=dataset.created_at,
        updated_at=dataset.updated_at,
    )


def column_schema(column: DatasetColumn) -> schemas.Column:
    return schemas.Column(
        name=column.name,
        type=column.type,
        inferred_type=column.inferred_type,
        distinct_count=column.distinct_count,
        distinct_capped=column.distinct_capped,
        empty_count=column.empty_count,
        samples=column.samples,
    )


def check_head(filename: str, head: bytes, settings: DatasetSettings) -> str:
    """Refuse at once what the first bytes already show is wrong (encoding, header); return the format."""
    source_format = detect_format(filename, head)
    if source_format == "zip":
        if not head.startswith(b"PK\x03\x04"):
            raise UploadFormatError("the upload is named .zip but is not a zip file")
        return source_format
    if not head.strip():
        raise UploadFormatError("the file is empty; a header row is required")
    # The head may end mid-line or mid-character: check only what is complete.
    complete = head if len(head) < 64 * 1024 else head[: head.rfind(b"\n") + 1]
    if not complete:  # no whole line in the head: the parser judges the first line when it reads it
        return source_format
    lines = decode_lines(iter([bytes(complete)]), settings.max_line_chars)
    limits = {"max_columns": settings.max_columns, "max_field_chars": settings.max_field_chars}
    if source_format == "jsonl":
        for record in JsonlParser(lines, **limits).records():
            if record.error is None:
                break
    else:
        CsvParser(lines, delimiter="\t" if source_format == "tsv" else None, **limits)
    return source_format


def _storage_quota(used: int, limit: int) -> OrgQuotaExceeded:
    return OrgQuotaExceeded(
        f"storage bytes (uploads and images): the org stores {used}, the limit is {limit} "
        "(setting AUTOML_DATASET_MAX_STORAGE_BYTES_PER_ORG); delete datasets first"
    )


async def upload_dataset(
    session: AsyncSession,
    store: ObjectStore,
    settings: DatasetSettings,
    org_id: str,
    upload: MultipartUpload,
) -> Dataset:
    repository = DatasetRepository(session)
    if await repository.stored_bytes(org_id) >= settings.max_storage_bytes_per_org:
        raise _storage_quota(await repository.stored_bytes(org_id), settings.max_storage_bytes_per_org)
    dataset_id = new_id("ds")
    key = source_key(org_id, dataset_id)
    try:
        info = await store.put(key, upload.file_chunks())
        if not upload.has_file:
            raise BadRequest("the upload has no 'file' part")
        filename = upload.filename or "upload"
        source_format = check_head(filename, bytes(upload.head), settings)
        name = (upload.fields.get("name") or filename.rsplit(".", 1)[0]).strip()
        if not name or len(name) > 200:
            raise InvalidRequest("name: must be 1 to 200 characters")
        if "\x00" in name:
            raise InvalidRequest("name: holds a NUL character")
        # Counted again under the org's lock now that the size is known: two uploads racing for the last
        # bytes cannot both fit.
        await enforce_org_quota(
            session,
            Dataset,
            org_id,
            used=lambda: repository.stored_bytes(org_id),
            adding=info.size,
            limit=settings.max_storage_bytes_per_org,
            what="storage bytes (uploads and images)",
            setting="AUTOML_DATASET_MAX_STORAGE_BYTES_PER_ORG",
        )
    except BaseException:
        with contextlib.suppress(Exception):
            await asyncio.shield(store.delete(key))
        raise
    now = utcnow()
    dataset = Dataset(
        id=dataset_id,
        org_id=org_id,
        name=name,
        status="processing",
        version=1,
        row_count=0,
        invalid_row_count=0,
        mapping_confirmed=False,
        source_format=source_format,
        source_filename=filename,
        source_key=key,
        source_bytes=info.size,
        source_sha256=info.sha256,
        next_index=0,
        created_at=now,
        updated_at=now,
    )
    await DatasetRepository(session).add(dataset)
    return dataset


async def list_datasets(session: AsyncSession, org_id: str, *, limit: int, after: str | None) -> Page[schemas.Dataset]:
    rows, next_cursor = await DatasetRepository(session).page_for_org(org_id, limit=limit, after=after)
    return Page[schemas.Dataset](items=[await to_schema(session, row) for row in rows], next=next_cursor)


async def delete_dataset(
    session: AsyncSession,
    store: ObjectStore,
    ingestor: Ingestor,
    settings: DatasetSettings,
    org_id: str,
    dataset_id: str,
) -> None:
    """Remove the dataset, its rows, its original file, and the images no other dataset of the org uses. A
    dataset whose images an image snapshot reads is kept (409) until those snapshots are deleted."""
    dataset = await get_dataset_row(session, org_id, dataset_id)
    readers = await DatasetRepository(session).snapshots_of(dataset_id)
    if readers:
        raise DatasetInUse(
            f"dataset {dataset_id!r} holds the images of image snapshot(s) {', '.join(sorted(readers))}; "
            "delete them first"
        )
    await ingestor.cancel(dataset_id)
    unshared = await AssetRepository(session).unshared_hashes(dataset_id, org_id)
    keys: list[str] = [dataset.source_key] if dataset.source_key else []
    for sha256 in unshared:
        keys += [image_key(org_id, sha256), thumbnail_key(org_id, sha256, settings.thumbnail_size)]
    await DatasetRepository(session).delete(dataset)  # rows, columns and assets go by ON DELETE CASCADE
    for key in keys:
        await store.delete(key)


class DatasetInUse(Conflict):
    pass


async def add_reference(session: AsyncSession, org_id: str, dataset_id: str, snapshot_id: str) -> None:
    await get_dataset_row(session, org_id, dataset_id)
    await DatasetRepository(session).add_reference(dataset_id, snapshot_id)


async def remove_reference(session: AsyncSession, org_id: str, dataset_id: str, snapshot_id: str) -> None:
    await get_dataset_row(session, org_id, dataset_id)
    await DatasetRepository(session).remove_reference(dataset_id, snapshot_id)


async def update_mapping(
    session: AsyncSession, org_id: str, dataset_id: str, mapping: schemas.ColumnMapping
) -> Dataset:
    dataset = await get_dataset_row(session, org_id, dataset_id)
    require_ready(dataset)
    repository = DatasetRepository(session)
    columns = {column.name: column for column in await repository.columns(dataset_id)}
    unknown = sorted(set(mapping.columns) - set(columns))
    if unknown:
        raise UnknownColumn(f"columns: no column named {', '.join(repr(name) for name in unknown)} in this dataset")
    new_images: list[str] = []
    assets = AssetRepository(session)
    for name, column_type in mapping.columns.items():
        column = columns[name]
        if column.type == column_type:
            continue
        fetched_before, fetched_now = column.type in IMAGE_COLUMN_TYPES, column_type in IMAGE_COLUMN_TYPES
        if fetched_now and not fetched_before:
            new_images.append(name)
        elif fetched_before and not fetched_now:
            await assets.delete_column(dataset_id, name)
        column.type = column_type
    dataset.mapping_confirmed = True
    await repository.bump_version(dataset_id)
    if new_images:
        await repository.flush()
        await AssetRepository(session).add_pending_for_columns(dataset_id, new_images)
        dataset.status = "processing"
    await repository.flush()
    await repository.refresh(dataset)
    return dataset


async def retry_failed_images(session: AsyncSession, org_id: str, dataset_id: str) -> Dataset:
    dataset = await get_dataset_row(session, org_id, dataset_id)
    require_ready(dataset)
    assets = AssetRepository(session)
    if (await assets.counts(dataset_id)).get("failed", 0):
        await assets.mark_failed_pending(dataset_id)
        dataset.status = "processing"
        await assets.flush()
    return dataset
