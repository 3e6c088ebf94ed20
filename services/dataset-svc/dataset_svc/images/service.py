"""Image ingestion: fetch (URL, through the SSRF guard) or read (zip member) every pending image cell,
check it is an image, store it once per org by sha256, and record per cell whether it arrived and why not."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import posixpath
import zipfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from automl_common.db import Database
from automl_common.ssrf import FetchError, GuardedFetcher
from automl_common.storage import ObjectStore, image_key
from dataset_svc.images.repository import AssetRepository
from dataset_svc.images.validation import ImageError, inspect_image
from dataset_svc.models import ImageAsset
from dataset_svc.rows.repository import RowRepository
from dataset_svc.settings import DatasetSettings

logger = logging.getLogger(__name__)
BATCH = 256


class ZipImages:
    """Image paths inside an uploaded zip, resolved relative to the CSV's folder (or the zip's root)."""

    def __init__(self, archive: zipfile.ZipFile, table: str, max_bytes: int) -> None:
        self.archive = archive
        self.table = table  # the one CSV/TSV/JSONL member
        self.base = table.rsplit("/", 1)[0] if "/" in table else ""
        self.max_bytes = max_bytes
        self.members = {info.filename: info for info in archive.infolist() if not info.is_dir()}

    def resolve(self, value: str) -> str | None:
        relative = value.strip().lstrip("/")
        for candidate in (posixpath.normpath(posixpath.join(self.base, relative)), posixpath.normpath(relative)):
            if candidate in self.members:
                return candidate
        return None

    def contains(self, value: str) -> bool:
        return self.resolve(value) is not None

    def read(self, value: str) -> bytes:
        name = self.resolve(value)
        if name is None:
            raise ImageError("not_found", f"{value!r} is not in the uploaded zip")
        info = self.members[name]
        if info.file_size > self.max_bytes:
            raise ImageError("too_large", f"{info.file_size} bytes is over the limit of {self.max_bytes}")
        with self.archive.open(info) as member:
            data = member.read(self.max_bytes + 1)  # never trust the declared size of a zip entry
        if len(data) > self.max_bytes:
            raise ImageError("too_large", f"more than the limit of {self.max_bytes} bytes")
        return data


@dataclass
class Outcome:
    asset: ImageAsset
    sha256: str | None = None
    content_type: str | None = None
    width: int | None = None
    height: int | None = None
    size: int | None = None
    reason: str | None = None
    histogram: dict[str, int] | None = None


class ImageIngestor:
    def __init__(
        self, database: Database, store: ObjectStore, settings: DatasetSettings, fetcher: GuardedFetcher
    ) -> None:
        self.database = database
        self.store = store
        self.settings = settings
        self.fetcher = fetcher

    async def process_pending(self, dataset_id: str, org_id: str, zip_images: ZipImages | None = None) -> None:
        """Work through every pending image of a dataset, ``image_fetch_concurrency`` at a time."""
        semaphore = asyncio.Semaphore(self.settings.image_fetch_concurrency)
        while True:
            async with self.database.session() as session:
                batch = list(await AssetRepository(session).pending_batch(dataset_id, BATCH))
            if not batch:
                break

            async def one(asset: ImageAsset) -> Outcome:
                async with semaphore:
                    return await self._process(asset, org_id, zip_images)

            outcomes = await asyncio.gather(*(one(asset) for asset in batch))
            await self._record(dataset_id, outcomes)
        await self.refresh_row_statuses(dataset_id)

    async def _process(self, asset: ImageAsset, org_id: str, zip_images: ZipImages | None) -> Outcome:
        try:
            if zip_images is not None and not asset.source.lower().startswith(("http://", "https://")):
                data = await asyncio.to_thread(zip_images.read, asset.source)
            else:
                data = (await self.fetcher.fetch(asset.source)).body
            info = await asyncio.to_thread(inspect_image, data, max_pixels=self.settings.image_max_pixels)
        except (FetchError, ImageError) as error:
            return Outcome(asset, reason=f"{error.code}: {error.detail}")
        digest = hashlib.sha256(data).hexdigest()
        key = image_key(org_id, digest)
        if not await self.store.exists(key):  # stored once per org, however many rows use it
            await self.store.put(key, data, content_type=info.content_type)
        return Outcome(asset, digest, info.content_type, info.width, info.height, len(data), histogram=info.histogram)

    async def _record(self, dataset_id: str, outcomes: list[Outcome]) -> None:
        async with self.database.session() as session:
            assets = AssetRepository(session)
            for outcome in outcomes:
                asset = await assets.merge(outcome.asset)
                asset.status = "failed" if outcome.reason else "ok"
                asset.reason = outcome.reason
                asset.sha256 = outcome.sha256
                asset.content_type = outcome.content_type
                asset.width, asset.height, asset.size = outcome.width, outcome.height, outcome.size
                asset.histogram = outcome.histogram

    async def refresh_row_statuses(self, dataset_id: str) -> None:
        """A row whose image failed is ``image_failed``; one whose images all arrived is ``ok`` again."""
        async with self.database.session() as session:
            assets = AssetRepository(session)
            rows = RowRepository(session)
            failed = await assets.row_ids_with_failures(dataset_id)
            await _in_chunks(sorted(failed), lambda chunk: rows.set_status_unless_invalid(chunk, "image_failed"))
            recovered = await assets.row_ids_without_failures(dataset_id)
            await _in_chunks(sorted(recovered), lambda chunk: rows.set_status(chunk, "ok"))


async def _in_chunks(ids: list[int], action: Callable[[list[int]], Awaitable[None]]) -> None:
    for start in range(0, len(ids), 500):
        await action(ids[start : start + 500])
