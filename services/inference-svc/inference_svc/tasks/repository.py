from __future__ import annotations

from sqlalchemy import func, select

from automl_common.db import Repository
from inference_svc.tables import TaskRow


class TaskRepository(Repository[TaskRow]):
    model = TaskRow

    async def count_pending(self, org_id: str) -> int:
        statement = select(func.count()).where(TaskRow.org_id == org_id, TaskRow.status.in_(("queued", "running")))
        return int((await self.session.execute(statement)).scalar_one())

    async def unfinished_ids(self) -> list[str]:
        """Tasks a restart interrupted: not yet answered, or answered with the callback still to deliver."""
        statement = select(TaskRow.id).where(
            (TaskRow.status.in_(("queued", "running"))) | (TaskRow.callback_status == "pending")
        )
        return list((await self.session.scalars(statement)).all())
