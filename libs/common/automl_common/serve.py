"""Run a service app with uvicorn (the entrypoint of ``python -m <service>``)."""

from __future__ import annotations

import os

import uvicorn
from fastapi import FastAPI

from automl_common.settings import ServiceSettings

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
