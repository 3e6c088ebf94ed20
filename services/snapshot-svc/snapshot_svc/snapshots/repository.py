from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, insert, select, update

from automl_common.db import Repository, upsert_insert
from snapshot_svc.models import Snapshot, SnapshotInvalidRow, SnapshotReference, Split
from snapshot_svc.snapshots.validation import InvalidRow


class SnapshotRepository(Repository[Snapshot]):
    model = Snapshot

    async def page_for_org(
        self, org_id: str, *, limit: int, after: str | None
    ) -> tuple[Sequence[Snapshot], str | None]:
        return await self.page(select(Snapshot).where(Snapshot.org_id == org_id), limit=limit, after=after)

    async def count_building(self, org_id: str) -> int:
        statement = select(func.count()).where(Snapshot.org_id == org_id, Snapshot.status == "creating")
        return int((await self.session.execute(statement)).scalar_one())

    async def invalid_rows(
        self, snapshot_id: str, *, limit: int, after: int | None
    ) -> tuple[Sequence[SnapshotInvalidRow], int | None]:
        statement = select(SnapshotInvalidRow).where(SnapshotInvalidRow.snapshot_id == snapshot_id)
        if after is not None:
            statement = statement.where(SnapshotInvalidRow.position > after)
        rows = (
            (await self.session.execute(statement.order_by(SnapshotInvalidRow.position).limit(limit + 1)))
            .scalars()
            .all()
        )
        if len(rows) > limit:
            return rows[:limit], rows[limit - 1].position
        return rows, None

    async def add_reference(self, snapshot_id: str, model_id: str) -> None:
        """Idempotent: a reference that exists (or is added concurrently) is what was asked."""
        statement = upsert_insert(self.session, SnapshotReference).values(snapshot_id=snapshot_id, model_id=model_id)
        await self.session.execute(statement.on_conflict_do_nothing())

    async def remove_reference(self, snapshot_id: str, model_id: str) -> None:
        await self.session.execute(
            delete(SnapshotReference).where(
                SnapshotReference.snapshot_id == snapshot_id, SnapshotReference.model_id == model_id
            )
        )

    async def set_fields(self, snapshot_id: str, **values: Any) -> None:
        """Write ``values`` to the snapshot's row without reading it first (a build's progress, its outcome)."""
        await self.session.execute(update(Snapshot).where(Snapshot.id == snapshot_id).values(**values))

    async def add_invalid_rows(self, snapshot_id: str, invalid: list[InvalidRow]) -> None:
        """The rows a build refused, in the dataset's order, inserted 5000 at a time."""
        invalid.sort(key=lambda row: row.index)
        for start in range(0, len(invalid), 5000):
            await self.session.execute(
                insert(SnapshotInvalidRow),
                [
                    {
                        "snapshot_id": snapshot_id,
                        "position": start + offset,
                        "row_id": row.row_id,
                        "index": row.index,
                        "reasons": row.reasons,
                    }
                    for offset, row in enumerate(invalid[start : start + 5000])
                ],
            )

    async def delete_invalid_rows(self, snapshot_id: str) -> None:
        await self.session.execute(delete(SnapshotInvalidRow).where(SnapshotInvalidRow.snapshot_id == snapshot_id))

    async def add_split(self, split: Split) -> None:
        self.session.add(split)
        await self.session.flush()

    async def references(self, snapshot_id: str) -> Sequence[str]:
        statement = select(SnapshotReference.model_id).where(SnapshotReference.snapshot_id == snapshot_id)
        return (await self.session.execute(statement)).scalars().all()

    async def in_status(self, status: str) -> list[str]:
        return list((await self.session.execute(select(Snapshot.id).where(Snapshot.status == status))).scalars().all())

    async def find_split(self, snapshot_id: str, seed: int, test_pct: float) -> Split | None:
        statement = select(Split).where(
            Split.snapshot_id == snapshot_id, Split.seed == seed, Split.test_pct == test_pct
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def get_split(self, snapshot_id: str, split_id: str) -> Split | None:
        statement = select(Split).where(Split.snapshot_id == snapshot_id, Split.id == split_id)
        return (await self.session.execute(statement)).scalar_one_or_none()
