"""Alembic, per service: each service has its own ``alembic/`` scripts and its own version table, so the
services can share one Postgres database (or each have their own) without touching each other's tables.
"""

from __future__ import annotations

import asyncio
import zlib
from pathlib import Path
from typing import Any

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from automl_common.db.engine import create_engine, is_sqlite


def alembic_config(script_location: Path, url: str, version_table: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["version_table"] = version_table
    return config


async def _run(engine: AsyncEngine, config: Config, action: str, revision: str) -> None:
    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Several replicas starting at once: one migrates, the others wait and then find nothing to do.
            lock_key = zlib.crc32(config.attributes["version_table"].encode())
            await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key})

        def run_command(sync_connection: Connection) -> None:
            config.attributes["connection"] = sync_connection
            getattr(command, action)(config, revision)

        await connection.run_sync(run_command)


async def upgrade(engine: AsyncEngine, script_location: Path, version_table: str, revision: str = "head") -> None:
    config = alembic_config(script_location, engine.url.render_as_string(hide_password=False), version_table)
    await _run(engine, config, "upgrade", revision)


async def downgrade(engine: AsyncEngine, script_location: Path, version_table: str, revision: str = "base") -> None:
    config = alembic_config(script_location, engine.url.render_as_string(hide_password=False), version_table)
    await _run(engine, config, "downgrade", revision)


def run_env(target_metadata: MetaData, version_table: str) -> None:
    """The body of every service's ``alembic/env.py``."""
    config = context.config
    version_table = config.attributes.get("version_table", version_table)
    options: dict[str, Any] = {
        "target_metadata": target_metadata,
        "version_table": version_table,
        "compare_type": True,
    }
    url = config.get_main_option("sqlalchemy.url") or ""
    if context.is_offline_mode():
        context.configure(url=url, literal_binds=True, render_as_batch=is_sqlite(url), **options)
        with context.begin_transaction():
            context.run_migrations()
        return

    def migrate(connection: Connection) -> None:
        sqlite = connection.dialect.name == "sqlite"
        context.configure(connection=connection, render_as_batch=sqlite, **options)
        with context.begin_transaction():
            context.run_migrations()

    connection = config.attributes.get("connection")
    if connection is not None:
        migrate(connection)
        return

    async def migrate_with_own_engine() -> None:
        engine = create_engine(url)
        try:
            async with engine.begin() as async_connection:
                await async_connection.run_sync(migrate)
        finally:
            await engine.dispose()

    asyncio.run(migrate_with_own_engine())
