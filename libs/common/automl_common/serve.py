"""The entrypoint of ``python -m <service>``: serve the app with uvicorn, or, with ``migrate``, bring the
service's tables to the newest revision and exit (the Helm chart's pre-install/pre-upgrade hook does this
before the new version starts, instead of each replica at start-up)."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import uvicorn
from fastapi import FastAPI

from automl_common.db import migrations
from automl_common.db.engine import Database
from automl_common.settings import ServiceSettings

logger = logging.getLogger("automl.serve")
S = TypeVar("S", bound=ServiceSettings)

KEEP_ALIVE_S = 75


def serve(app: FastAPI, settings: ServiceSettings) -> None:
    # Everything a service writes (databases, objects, logs, job specs) is readable by its own user only.
    os.umask(0o077)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.listen_port,
        log_config=None,  # our JSON logging is configured in the app's lifespan
        access_log=False,
        loop="uvloop",
        http="httptools",
        timeout_graceful_shutdown=10,
        # Longer than any internal client keeps an idle connection (httpx 5 s, the gateway's aiohttp 30 s): a
        # server that closed first would race a client reusing the connection, and the request would fail.
        timeout_keep_alive=KEEP_ALIVE_S,
        proxy_headers=False,
        server_header=False,
    )


async def migrate(settings: ServiceSettings, migrations_dir: Path, version_table: str) -> None:
    database = Database.from_url(settings.resolved_database_url, pool_size=1)
    try:
        await migrations.upgrade(database.engine, migrations_dir, version_table)
    finally:
        await database.dispose()


def main(
    settings: S,
    create_app: Callable[[S], FastAPI],
    migrations_dir: Path,
    version_table: str,
    argv: list[str] | None = None,
) -> None:
    """``python -m <service>`` serves; ``python -m <service> migrate`` migrates and exits."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["migrate"]:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
        asyncio.run(migrate(settings, migrations_dir, version_table))
        logger.info("%s: tables at the newest revision", settings.service_name)
        return
    if args:
        raise SystemExit(f"usage: python -m <service> [migrate], not {' '.join(args)!r}")
    serve(create_app(settings), settings)
