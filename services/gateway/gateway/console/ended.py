"""Console sessions ended on the server: a signed-out session's id is kept until the session would have
expired, and a cookie carrying it is no session (every gateway replica reads the same table)."""

from __future__ import annotations

from datetime import UTC, datetime

from automl_common.db import Database
from gateway.console.repository import EndedSessionRepository
from gateway.console.session import Session


async def end_session(database: Database, session: Session) -> None:
    async with database.session() as db:
        until = datetime.fromtimestamp(session.expires_at, tz=UTC)
        await EndedSessionRepository(db).end(session.session_id, until)


async def session_ended(database: Database, session_id: str) -> bool:
    async with database.sessionmaker() as db:
        return await EndedSessionRepository(db).ended(session_id)
