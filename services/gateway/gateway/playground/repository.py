"""The playground's free quota per org and model, counted in the gateway's database with single atomic
statements: a conditional increment cannot overspend, however many requests race for the last query."""

from __future__ import annotations

from sqlalchemy import delete, select, update

from automl_common.db import Repository, upsert_insert
from gateway.models import PlaygroundUsage


class PlaygroundQuotaRepository(Repository[PlaygroundUsage]):
    model = PlaygroundUsage

    async def take(self, org_id: str, model_id: str, quota: int) -> int | None:
        """Use one query of the quota; the queries left after it, or None when none were left."""
        await self.session.execute(
            upsert_insert(self.session, PlaygroundUsage)
            .values(org_id=org_id, model_id=model_id, used=0)
            .on_conflict_do_nothing()
        )
        used = (
            await self.session.execute(
                update(PlaygroundUsage)
                .where(
                    PlaygroundUsage.org_id == org_id, PlaygroundUsage.model_id == model_id, PlaygroundUsage.used < quota
                )
                .values(used=PlaygroundUsage.used + 1)
                .returning(PlaygroundUsage.used)
            )
        ).scalar()
        return None if used is None else quota - used

    async def give_back(self, org_id: str, model_id: str, quota: int) -> int:
        """Return a query that was not answered (the model failed, or the input was refused)."""
        used = (
            await self.session.execute(
                update(PlaygroundUsage)
                .where(PlaygroundUsage.org_id == org_id, PlaygroundUsage.model_id == model_id, PlaygroundUsage.used > 0)
                .values(used=PlaygroundUsage.used - 1)
                .returning(PlaygroundUsage.used)
            )
        ).scalar()
        return quota - (used or 0)

    async def take_all(self, org_id: str, model_id: str, quota: int, attempts: int = 20) -> int:
        """Reserve every query left (for a batch whose size is known only later); how many were reserved. A
        compare-and-swap on the count: of two batches racing for the same quota, one reserves it, the other none."""
        await self.session.execute(
            upsert_insert(self.session, PlaygroundUsage)
            .values(org_id=org_id, model_id=model_id, used=0)
            .on_conflict_do_nothing()
        )
        for _ in range(attempts):
            used = (
                await self.session.execute(
                    select(PlaygroundUsage.used).where(
                        PlaygroundUsage.org_id == org_id, PlaygroundUsage.model_id == model_id
                    )
                )
            ).scalar_one()
            if used >= quota:
                return 0
            swapped = await self.session.execute(
                update(PlaygroundUsage)
                .where(
                    PlaygroundUsage.org_id == org_id, PlaygroundUsage.model_id == model_id, PlaygroundUsage.used == used
                )
                .values(used=quota)
            )
            if swapped.rowcount == 1:  # type: ignore[attr-defined]
                return quota - used
        return 0  # contended that long: report nothing left rather than overspend

    async def give_back_many(self, org_id: str, model_id: str, count: int, quota: int) -> int:
        """Return ``count`` reserved queries that were not used; the queries left after it."""
        if count > 0:
            await self.session.execute(
                update(PlaygroundUsage)
                .where(
                    PlaygroundUsage.org_id == org_id,
                    PlaygroundUsage.model_id == model_id,
                    PlaygroundUsage.used >= count,
                )
                .values(used=PlaygroundUsage.used - count)
            )
        used = (
            await self.session.execute(
                select(PlaygroundUsage.used).where(
                    PlaygroundUsage.org_id == org_id, PlaygroundUsage.model_id == model_id
                )
            )
        ).scalar()
        return quota - (used or 0)

    async def forget_unused(self, org_id: str, model_id: str) -> None:
        """Drop the org's count for a model id that turned out to name no model of it (it was made, at zero, by the
        query that found out): any well-formed id must not leave a row behind."""
        await self.session.execute(
            delete(PlaygroundUsage).where(
                PlaygroundUsage.org_id == org_id, PlaygroundUsage.model_id == model_id, PlaygroundUsage.used == 0
            )
        )
