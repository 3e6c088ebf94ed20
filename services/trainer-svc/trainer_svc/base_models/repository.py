from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import or_, select

from automl_common.db import Repository
from trainer_svc.tables import BaseModelRow


class BaseModelRepository(Repository[BaseModelRow]):
    model = BaseModelRow

    async def for_org(self, org_id: str) -> Sequence[BaseModelRow]:
        """The built-in base models, then the org's own."""
        statement = select(BaseModelRow).where(or_(BaseModelRow.org_id.is_(None), BaseModelRow.org_id == org_id))
        ordered = statement.order_by(BaseModelRow.org_id.is_not(None), BaseModelRow.id)
        return (await self.session.execute(ordered)).scalars().all()
