from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, insert, select, update

from automl_common.db import Repository
from dataset_svc.models import DatasetRow, ImageAsset

# (index, line, values, status, errors)
RowTuple = tuple[int, int | None, dict[str, Any], str, list[str] | None]


class RowRepository(Repository[DatasetRow]):
    model = DatasetRow

    async def bulk_insert(self, dataset_id: str, rows: Sequence[RowTuple]) -> None:
        """Insert many rows at once: COPY on Postgres, one executemany elsewhere."""
        if not rows:
            return
        connection = await self.session.connection()
        if connection.dialect.name == "postgresql":
            raw = await connection.get_raw_connection()
            driver = raw.driver_connection
            assert driver is not None
            await driver.copy_records_to_table(
                "dataset_rows",
                records=[
                    (
                        dataset_id,
                        index,
                        line,
                        json.dumps(values),
                        status,
                        None if errors is None else json.dumps(errors),
                    )
                    for index, line, values, status, errors in rows
                ],
                columns=["dataset_id", "index", "line", "values", "status", "errors"],
            )
            return
        await self.session.execute(
            insert(DatasetRow),
            [
                {
                    "dataset_id": dataset_id,
                    "index": index,
                    "line": line,
                    "values": values,
                    "status": status,
                    "errors": errors,
                }
                for index, line, values, status, errors in rows
            ],
        )

    async def page_for_dataset(
        self, dataset_id: str, *, limit: int, after_index: int | None, status: str | None
    ) -> tuple[Sequence[DatasetRow], int | None]:
        statement = select(DatasetRow).where(DatasetRow.dataset_id == dataset_id)
        if status is not None:
            statement = statement.where(DatasetRow.status == status)
        if after_index is not None:
            statement = statement.where(DatasetRow.index > after_index)
        statement = statement.order_by(DatasetRow.index).limit(limit + 1)
        rows = (await self.session.execute(statement)).scalars().all()
        if len(rows) > limit:
            return rows[:limit], rows[limit - 1].index
        return rows, None

    async def get_in_dataset(self, dataset_id: str, row_id: int) -> DatasetRow | None:
        statement = select(DatasetRow).where(DatasetRow.id == row_id, DatasetRow.dataset_id == dataset_id)
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def delete_all(self, dataset_id: str) -> None:
        await self.session.execute(delete(ImageAsset).where(ImageAsset.dataset_id == dataset_id))
        await self.session.execute(delete(DatasetRow).where(DatasetRow.dataset_id == dataset_id))

    async def count_by_status(self, dataset_id: str) -> dict[str, int]:
        statement = (
            select(DatasetRow.status, func.count())
            .where(DatasetRow.dataset_id == dataset_id)
            .group_by(DatasetRow.status)
        )
        return {status: int(count) for status, count in (await self.session.execute(statement)).all()}

    async def set_status(self, row_ids: Sequence[int], status: str) -> None:
        if row_ids:
            await self.session.execute(update(DatasetRow).where(DatasetRow.id.in_(row_ids)).values(status=status))

    async def set_status_unless_invalid(self, row_ids: Sequence[int], status: str) -> None:
        if row_ids:
            await self.session.execute(
                update(DatasetRow)
                .where(DatasetRow.id.in_(row_ids), DatasetRow.status != "invalid")
                .values(status=status)
            )
