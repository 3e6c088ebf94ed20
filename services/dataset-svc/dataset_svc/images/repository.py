from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, func, select, update

from automl_common.db import Repository
from dataset_svc.models import Dataset, DatasetRow, ImageAsset


class AssetRepository(Repository[ImageAsset]):
    model = ImageAsset

    async def replace_cell(self, row_id: int, column: str, asset: ImageAsset | None) -> None:
        """The asset of one cell: the one there is dropped; ``asset`` (if any) takes its place."""
        if asset is None:
            existing = await self.session.get(ImageAsset, (row_id, column))
            if existing is not None:
                await self.session.delete(existing)
                await self.session.flush()
            return
        self.session.add(asset)

    async def add_pending_for_columns(self, dataset_id: str, columns: list[str]) -> None:
        """A pending asset for every non-empty cell of ``columns`` (rows walked by index, in pages)."""
        after = -1
        while True:
            statement = (
                select(DatasetRow.id, DatasetRow.index, DatasetRow.values)
                .where(DatasetRow.dataset_id == dataset_id, DatasetRow.index > after, DatasetRow.status != "invalid")
                .order_by(DatasetRow.index)
                .limit(2000)
            )
            rows = (await self.session.execute(statement)).all()
            if not rows:
                return
            for row_id, index, values in rows:
                after = index
                for column in columns:
                    value = values.get(column)
                    if isinstance(value, str) and value.strip():
                        self.session.add(
                            ImageAsset(
                                row_id=row_id,
                                column=column,
                                dataset_id=dataset_id,
                                source=value.strip(),
                                status="pending",
                            )
                        )
            await self.session.flush()

    async def for_rows(self, row_ids: Sequence[int]) -> Sequence[ImageAsset]:
        if not row_ids:
            return []
        return (await self.session.execute(select(ImageAsset).where(ImageAsset.row_id.in_(row_ids)))).scalars().all()

    async def pending_batch(self, dataset_id: str, limit: int) -> Sequence[ImageAsset]:
        statement = (
            select(ImageAsset)
            .where(ImageAsset.dataset_id == dataset_id, ImageAsset.status == "pending")
            .order_by(ImageAsset.row_id)
            .limit(limit)
        )
        return (await self.session.execute(statement)).scalars().all()

    async def mark_failed_pending(self, dataset_id: str) -> None:
        await self.session.execute(
            update(ImageAsset)
            .where(ImageAsset.dataset_id == dataset_id, ImageAsset.status == "failed")
            .values(status="pending", reason=None)
        )

    async def delete_column(self, dataset_id: str, column: str) -> None:
        await self.session.execute(
            delete(ImageAsset).where(ImageAsset.dataset_id == dataset_id, ImageAsset.column == column)
        )

    async def counts(self, dataset_id: str) -> dict[str, int]:
        statement = (
            select(ImageAsset.status, func.count())
            .where(ImageAsset.dataset_id == dataset_id)
            .group_by(ImageAsset.status)
        )
        return {status: int(count) for status, count in (await self.session.execute(statement)).all()}

    async def row_ids_with_failures(self, dataset_id: str) -> set[int]:
        statement = select(ImageAsset.row_id).where(ImageAsset.dataset_id == dataset_id, ImageAsset.status == "failed")
        return set((await self.session.execute(statement)).scalars().all())

    async def row_ids_without_failures(self, dataset_id: str) -> set[int]:
        failed = select(ImageAsset.row_id).where(ImageAsset.dataset_id == dataset_id, ImageAsset.status == "failed")
        statement = select(DatasetRow.id).where(
            DatasetRow.dataset_id == dataset_id, DatasetRow.status == "image_failed", DatasetRow.id.not_in(failed)
        )
        return set((await self.session.execute(statement)).scalars().all())

    async def unshared_hashes(self, dataset_id: str, org_id: str) -> set[str]:
        """Image hashes this dataset uses that no other dataset of the org uses (safe to delete with it)."""
        mine = (
            select(ImageAsset.sha256)
            .where(ImageAsset.dataset_id == dataset_id, ImageAsset.sha256.is_not(None))
            .distinct()
        )
        hashes = {sha256 for sha256 in (await self.session.execute(mine)).scalars().all() if sha256}
        shared: set[str] = set()
        ordered = sorted(hashes)
        for start in range(0, len(ordered), 1000):  # bounded IN lists: drivers cap a statement's parameters
            statement = (
                select(ImageAsset.sha256)
                .join(Dataset, Dataset.id == ImageAsset.dataset_id)
                .where(
                    Dataset.org_id == org_id,
                    ImageAsset.dataset_id != dataset_id,
                    ImageAsset.sha256.in_(ordered[start : start + 1000]),
                )
                .distinct()
            )
            shared.update(sha256 for sha256 in (await self.session.execute(statement)).scalars().all() if sha256)
        return hashes - shared
