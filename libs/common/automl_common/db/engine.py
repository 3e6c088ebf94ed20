"""Engines and the unit of work. Created in a service's lifespan, never at import.

Every transaction ends here: :meth:`Database.session` commits when its block ends cleanly (the request's
session dependency and each background worker go through it) and rolls back when it raises. What must happen
only once the writes are committed (start the background work a new row asks for) is registered with
:func:`after_commit`; a handler that is about to wait long (a model answering, an export being built) with
nothing left to write ends its transaction early with :func:`release`, so that it holds no connection."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

AFTER_COMMIT = "automl.after_commit"


def after_commit(session: AsyncSession, callback: Callable[[], object]) -> None:
    """Run ``callback`` once this session's transaction has committed (never if it rolls back)."""
    session.info.setdefault(AFTER_COMMIT, []).append(callback)


async def release(session: AsyncSession) -> None:
    """End the session's transaction now, keeping what was read (``expire_on_commit`` is off): the caller is
    about to wait on something slow and must not hold a connection or a snapshot meanwhile. What it wrote so
    far is committed, and what was registered with :func:`after_commit` runs."""
    await _commit(session)


async def _commit(session: AsyncSession) -> None:
    await session.commit()
    callbacks: list[Callable[[], object]] = session.info.pop(AFTER_COMMIT, [])
    for callback in callbacks:
        callback()


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> AsyncEngine:
    if is_sqlite(url):
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # WAL lets readers run beside the one writer; busy_timeout waits for the lock instead of failing.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return create_async_engine(
        url, echo=echo, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True, pool_recycle=1800
    )


class Database:
    """One engine and its session factory."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessionmaker = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)

    @classmethod
    def from_url(cls, url: str, *, pool_size: int = 10) -> Database:
        return cls(create_engine(url, pool_size=pool_size))

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """Yield a session; commit if the caller finished cleanly (then run its :func:`after_commit`
        callbacks), roll back if it raised."""
        async with self.sessionmaker() as session:
            try:
                yield session
            except BaseException:
                session.info.pop(AFTER_COMMIT, None)
                await session.rollback()
                raise
            else:
                await _commit(session)

    async def ping(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
