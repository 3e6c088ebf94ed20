from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Text, cast, delete, exists, func, select, type_coerce, update

from automl_common.db import Repository, upsert_insert, utcnow
from dataset_svc.models import Dataset, DatasetColumn, DatasetReference, DatasetRow, ImageAsset


class DatasetRepository(Repository[Dataset]):
    model = Dataset

    async def page_for_org(self, org_id: str, *, limit: int, after: str | None) -> tuple[Sequence[Dataset], str | None]:
        return await self.page(select(Dataset).where(Dataset.org_id == org_id), limit=limit, after=after)

    async def snapshots_of(self, dataset_id: str) -> Sequence[str]:
        statement = select(DatasetReference.snapshot_id).where(DatasetReference.dataset_id == dataset_id)
        return (await self.session.execute(statement)).scalars().all()

    async def add_reference(self, dataset_id: str, snapshot_id: str) -> None:
        """Idempotent: a reference that exists (or is added concurrently) is what was asked."""
        await self.session.execute(
            upsert_insert(self.session, DatasetReference)
            .values(dataset_id=dataset_id, snapshot_id=snapshot_id, created_at=utcnow())
            .on_conflict_do_nothing()
        )

    async def remove_reference(self, dataset_id: str, snapshot_id: str) -> None:
        await self.session.execute(
            delete(DatasetReference).where(
                DatasetReference.dataset_id == dataset_id, DatasetReference.snapshot_id == snapshot_id
            )
        )

    async def stored_bytes(self, org_id: str) -> int:
        """What the org keeps in the store: its uploads and the images fetched for them."""
        uploads = select(func.coalesce(func.sum(Dataset.source_bytes), 0)).where(Dataset.org_id == org_id)
        images = (
            select(func.coalesce(func.sum(ImageAsset.size), 0))
            .join(Dataset, Dataset.id == ImageAsset.dataset_id)
            .where(Dataset.org_id == org_id)
        )
        upload_bytes = int((await self.session.execute(uploads)).scalar_one() or 0)
        image_bytes = int((await self.session.execute(images)).scalar_one() or 0)
        return upload_bytes + image_bytes

    async def columns(self, dataset_id: str) -> Sequence[DatasetColumn]:
        statement = select(DatasetColumn).where(DatasetColumn.dataset_id == dataset_id).order_by(DatasetColumn.position)
        return (await self.session.execute(statement)).scalars().all()

    async def replace_columns(self, dataset_id: str, columns: Sequence[DatasetColumn]) -> None:
        await self.session.execute(delete(DatasetColumn).where(DatasetColumn.dataset_id == dataset_id))
        self.session.add_all(columns)
        await self.session.flush()

    async def bump_version(self, dataset_id: str) -> None:
        """Every edit bumps the version atomically in the database, never read-modify-write in Python."""
        await self.session.execute(
            update(Dataset).where(Dataset.id == dataset_id).values(version=Dataset.version + 1, updated_at=utcnow())
        )

    async def in_status(self, status: str) -> Sequence[str]:
        return (await self.session.execute(select(Dataset.id).where(Dataset.status == status))).scalars().all()


def row_columns_for(dialect: str) -> tuple[Any, ...]:
    """Row columns, with ``values`` and ``errors`` as the stored JSON text (not parsed by the driver)."""
    values: ColumnElement[str]
    errors: ColumnElement[str]
    if dialect == "postgresql":
        values, errors = cast(DatasetRow.values, Text), cast(DatasetRow.errors, Text)
    else:
        values = type_coerce(func.json(DatasetRow.values), Text)
        errors = type_coerce(func.json(DatasetRow.errors), Text)
    return (DatasetRow.id, DatasetRow.index, DatasetRow.line, values, DatasetRow.status, errors)


_ASSET_COLUMNS = (
    ImageAsset.row_id,
    ImageAsset.column,
    ImageAsset.status,
    ImageAsset.sha256,
    ImageAsset.reason,
    ImageAsset.width,
    ImageAsset.height,
    ImageAsset.histogram,
)


class ExportRepository(DatasetRepository):
    """The export's reads: plain column selects, each row's stored JSON passed through as the database's text."""

    async def has_assets(self, dataset_id: str) -> bool:
        return bool((await self.session.execute(select(exists().where(ImageAsset.dataset_id == dataset_id)))).scalar())

    async def row_columns(self) -> tuple[Any, ...]:
        return row_columns_for((await self.session.connection()).dialect.name)

    async def rows_after(self, dataset_id: str, after: int, limit: int, columns: tuple[Any, ...]) -> Sequence[Any]:
        """Up to ``limit`` rows past index ``after``, in index order, as ``columns``."""
        statement = (
            select(*columns)
            .where(DatasetRow.dataset_id == dataset_id, DatasetRow.index > after)
            .order_by(DatasetRow.index)
            .limit(limit)
        )
        return (await self.session.execute(statement)).all()

    async def assets_of_rows(self, row_ids: list[int]) -> dict[int, dict[str, Any]]:
        """Per row, per image column: whether its image arrived, its hash and size, or why not."""
        assets: dict[int, dict[str, Any]] = {}
        found = await self.session.execute(select(*_ASSET_COLUMNS).where(ImageAsset.row_id.in_(row_ids)))
        for row_id, column, status, sha256, reason, width, height, histogram in found:
            assets.setdefault(row_id, {})[column] = {
                "status": status,
                "sha256": sha256,
                "reason": reason,
                "width": width,
                "height": height,
                "histogram": histogram,
            }
        return assets

    async def version(self, dataset_id: str) -> int | None:
        version: int | None = (
            await self.session.execute(select(Dataset.version).where(Dataset.id == dataset_id))
        ).scalar()
        return version
