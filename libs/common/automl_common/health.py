"""Liveness, readiness and metrics endpoints, the same in every service."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from automl_common.errors import ServiceUnavailable
from automl_common.handlers import error_json

ReadinessCheck = Callable[[], Awaitable[None]]

router = APIRouter(include_in_schema=False)


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    checks: dict[str, ReadinessCheck] = request.app.state.readiness_checks
    timeout: float = request.app.state.settings.readiness_timeout_s
    results: dict[str, str] = {}
    failed = False

    async def run(name: str, check: ReadinessCheck) -> None:
        nonlocal failed
        try:
            await asyncio.wait_for(check(), timeout)
            results[name] = "ok"
        except Exception as error:  # any failure means not ready; the reason is reported, not raised
            failed = True
            results[name] = f"{type(error).__name__}: {error}"[:300]

    await asyncio.gather(*(run(name, check) for name, check in checks.items()))
    if failed:
        reasons = ", ".join(f"{name}: {result}" for name, result in sorted(results.items()) if result != "ok")
        return error_json(ServiceUnavailable(f"not ready ({reasons})"), request)
    return JSONResponse({"status": "ready", "checks": results})


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    registry: CollectorRegistry = request.app.state.metrics_registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
