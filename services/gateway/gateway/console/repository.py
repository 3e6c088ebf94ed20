"""The console's own table: sessions ended on the server (signed out before they expired)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select

from automl_common.db import Repository
from gateway.models import EndedConsoleSession


class EndedSessionRepository(Repository[EndedConsoleSession]):
    model = EndedConsoleSession

    async def ended(self, session_id: str) -> bool:
        statement = select(EndedConsoleSession.session_id).where(EndedConsoleSession.session_id == session_id)
        return (await self.session.execute(statement)).first() is not None

    async def end(self, session_id: str, until: datetime) -> None:
        if await self.get(session_id) is None:
            self.session.add(EndedConsoleSession(session_id=session_id, until=until))
            await self.session.flush()

    async def purge(self, now: datetime) -> int:
        result = await self.session.execute(delete(EndedConsoleSession).where(EndedConsoleSession.until < now))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
