"""A tiny service built with the shared app factory, standing behind the gateway in proxy tests and the
gateway benchmark: it reports what it received, streams bodies both ways, and can be slow on purpose."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from automl_common.app import ServiceSpec, create_service_app
from automl_common.errors import Conflict
from automl_common.settings import ServiceSettings
from automl_common.storage import ObjectStore

router = APIRouter(prefix="/v1/echo")


@router.get("")
async def echo(request: Request) -> dict[str, object]:
    return {
        "method": request.method,
        "path": request.url.path,
        "query": request.url.query,
        "org_id": request.headers.get("x-org-id"),
        "key_id": request.headers.get("x-key-id"),
        "key_scope": request.headers.get("x-key-scope"),
        "request_id": request.headers.get("x-request-id"),
        "has_authorization": "authorization" in request.headers,
    }


@router.post("/upload")
async def upload(request: Request) -> dict[str, object]:
    digest = hashlib.sha256()
    size = 0
    async for chunk in request.stream():
        digest.update(chunk)
        size += len(chunk)
    return {"bytes": size, "sha256": digest.hexdigest()}


@router.get("/download")
async def download(size: int) -> StreamingResponse:
    async def chunks() -> AsyncIterator[bytes]:
        remaining = size
        block = bytes(range(256)) * 4096  # 1 MiB
        while remaining > 0:
            piece = block[: min(remaining, len(block))]
            remaining -= len(piece)
            yield piece

    return StreamingResponse(chunks(), media_type="application/octet-stream")


@router.get("/slow")
async def slow(seconds: float) -> dict[str, float]:
    await asyncio.sleep(seconds)
    return {"slept": seconds}


@router.post("/conflict")
async def conflict() -> None:
    raise Conflict("the echo service refuses this on purpose")


class EchoSettings(ServiceSettings):
    service_name = "echo"


def create_echo_app(settings: ServiceSettings, *, store: ObjectStore | None = None) -> FastAPI:
    spec = ServiceSpec(title="echo", migrations_dir=None, routers=[router])
    return create_service_app(spec, settings, store=store)


def deployments_stand_in() -> FastAPI:
    """inference-svc as the gateway sees it when it checks a deployment-scoped key: only the two ids in KNOWN
    exist."""
    app = FastAPI()

    @app.get("/v1/deployments/{deployment_id}")
    async def get_deployment(deployment_id: str) -> JSONResponse:
        if deployment_id in ("dep_00000000000000000000000001", "dep_00000000000000000000000123"):
            return JSONResponse({"id": deployment_id})
        return JSONResponse({"error": "DeploymentNotFound"}, status_code=404)

    return app
