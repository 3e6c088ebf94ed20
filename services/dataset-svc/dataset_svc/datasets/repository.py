from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, func, select, update

from automl_common.db import Repository, upsert_insert, utcnow
from dataset_svc.models import Dataset, DatasetColumn, DatasetReference, ImageAsset


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
