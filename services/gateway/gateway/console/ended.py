"""Console sessions ended on the server: a signed-out session's id is kept until the session would have
expired, and a cookie carrying it is no session (every gateway replica reads the same table)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, select

from automl_common.db import Database, Repository, utcnow
from gateway.console.session import Session
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


async def end_session(database: Database, session: Session) -> None:
    async with database.session() as db:
        until = datetime.fromtimestamp(session.expires_at, tz=UTC)
        await EndedSessionRepository(db).end(session.session_id, until)


async def session_ended(database: Database, session_id: str) -> bool:
    async with database.sessionmaker() as db:
        return await EndedSessionRepository(db).ended(session_id)


async def purge_ended(database: Database) -> int:
    async with database.session() as db:
        return await EndedSessionRepository(db).purge(utcnow())
