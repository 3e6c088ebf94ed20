"""An uploaded zip: a CSV, TSV or JSONL table and the images its rows name, checked before it is read (members,
unpacked size, compression ratio) and opened from a local copy, since a zip needs random access."""

from __future__ import annotations

import contextlib
import posixpath
import tempfile
import zipfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from automl_common.storage import ObjectStore
from dataset_svc.datasets import detection, segmentation
from dataset_svc.datasets.parsing import UploadFormatError
from dataset_svc.images.service import ZipImages
from dataset_svc.settings import DatasetSettings

TABLE_FORMATS = (".csv", ".tsv", ".jsonl", ".ndjson")
CHUNK = 1024 * 1024


@contextlib.asynccontextmanager
async def open_zip(
    store: ObjectStore, settings: DatasetSettings, source_format: str, source_key: str | None
) -> AsyncIterator[ZipImages | None]:
    """For a zip upload: a local copy (zip needs random access), opened, and its images' index."""
    if source_format != "zip" or source_key is None:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="automl-zip-") as directory:
        local = Path(directory) / "upload.zip"
        async with await store.open(source_key) as stream:
            with local.open("wb") as handle:
                async for chunk in stream:
                    handle.write(chunk)
        try:
            archive = zipfile.ZipFile(local)
        except zipfile.BadZipFile as error:
            raise UploadFormatError("the upload is not a readable zip file") from error
        with archive:
            check_zip(settings, archive)
            yield ZipImages(archive, table_name(archive), settings.image_max_bytes)


def check_zip(settings: DatasetSettings, archive: zipfile.ZipFile) -> None:
    infos = archive.infolist()
    if len(infos) > settings.zip_max_members:
        raise UploadFormatError(f"the zip holds {len(infos)} files, more than the limit of {settings.zip_max_members}")
    total = sum(info.file_size for info in infos)
    if total > settings.zip_max_uncompressed_bytes:
        raise UploadFormatError(
            f"the zip unpacks to {total} bytes, more than the limit of {settings.zip_max_uncompressed_bytes}"
        )
    # A member's declared size bounds what it can unpack to (zipfile stops there and checks the CRC), so
    # the declared ratio is the ratio a reader can be made to pay for.
    limit = settings.zip_max_ratio
    for info in infos:
        if info.file_size > 1024 * 1024 and info.file_size > limit * max(info.compress_size, 1):
            ratio = info.file_size / max(info.compress_size, 1)
            raise UploadFormatError(
                f"zip member {info.filename[:200]!r} unpacks {ratio:.0f} times its compressed size, more than "
                f"the limit of {limit:g} (a zip bomb?)"
            )


def table_name(archive: zipfile.ZipFile) -> str:
    """The zip's one table: a CSV, TSV or JSONL file, or else a COCO annotation file (object detection), or else
    the labels.txt of images/ and masks/ (semantic segmentation)."""
    files = [info.filename for info in archive.infolist() if not info.is_dir() and "__MACOSX" not in info.filename]
    tables = [name for name in files if name.lower().endswith(TABLE_FORMATS)] or [
        name for name in files if detection.is_annotation_file(name)
    ]
    if not tables and (labels := segmentation.labels_file(files)) is not None:
        return labels
    if len(tables) != 1:
        found = ", ".join(tables[:5]) or "none"
        raise UploadFormatError(
            "the zip must hold exactly one CSV, TSV or JSONL file, one COCO annotation file, or images/, masks/ "
            f"and labels.txt (found: {found})"
        )
    return tables[0]


def table_format(table: str) -> str:
    """The parser a zip's table takes, from its name."""
    lowered = table.lower()
    return "jsonl" if lowered.endswith((".jsonl", ".ndjson")) else ("tsv" if lowered.endswith(".tsv") else "csv")


def table_chunks(archive: zipfile.ZipFile, table: str, settings: DatasetSettings) -> tuple[str, Iterator[bytes]]:
    """The table's format and bytes: the member as it is, or a detection layout (a COCO file, a CSV of one box
    per row) or the segmentation layout as JSON lines of one image each."""
    limits = (settings.annotations_max_bytes, settings.max_boxes_per_image)
    if posixpath.basename(table) == segmentation.LABELS_FILE and not table.lower().endswith(TABLE_FORMATS):
        return "jsonl", segmentation.lines(archive, table)
    if detection.is_annotation_file(table):
        return "jsonl", detection.coco_lines(archive, table, *limits)
    if detection.has_box_header(archive, table):
        return "jsonl", detection.box_csv_lines(archive, table, *limits)
    return table_format(table), member_chunks(archive, table)


def member_chunks(archive: zipfile.ZipFile, name: str) -> Iterator[bytes]:
    with archive.open(name) as member:
        while chunk := member.read(CHUNK):
            yield chunk
