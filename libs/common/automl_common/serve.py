"""Run a service app with uvicorn (the entrypoint of ``python -m <service>``)."""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

from automl_common.settings import ServiceSettings


def serve(app: FastAPI, settings: ServiceSettings) -> None:
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.listen_port,
        log_config=None,  # our JSON logging is configured in the app's lifespan
        access_log=False,
        loop="uvloop",
        http="httptools",
        timeout_graceful_shutdown=10,
        proxy_headers=False,
        server_header=False,
    )
