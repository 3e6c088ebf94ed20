"""Deployments: create, scale, status with replicas, predict from the page, the operating point (a threshold
per head and class, picked on a model's metrics page); keys (a new key's secret shown once; revoke) and usage
per day as a chart."""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from automl_client._base import path
from automl_proto.inference import UsageRow
from gateway.console.chat import relay_chat
from gateway.console.deps import ApiDep, CsrfDep, SessionDep
from gateway.console.forms import integer, number
from gateway.console.render import render

router = APIRouter(include_in_schema=False)


@router.get("/deployments")
async def deployments_page(
    request: Request, session: SessionDep, api: ApiDep, model: Annotated[str | None, Query(max_length=128)] = None
) -> HTMLResponse:
    deployments = [item async for item in api.deployments.list(limit=100)][:100]
    models = [item async for item in api.models.list(limit=100) if item.status == "succeeded"][:100]
    return render(
        request, "deployments.html", session, section="deployments", deployments=deployments, models=models,
        chosen_model=model or "",
    )  # fmt: skip


@router.post("/deployments")
async def create_deployment(request: Request, _: CsrfDep, api: ApiDep) -> Response:
    form = await request.form()
    deployment = await api.deployments.create(
        model_id=str(form.get("model_id", "")),
        name=str(form.get("name", "")),
        min_replicas=integer(form, "min_replicas", 1),
        max_replicas=integer(form, "max_replicas", 1),
    )
    return RedirectResponse(f"/deployments/{path('{}', deployment.id)}", status_code=303)


@router.post("/deployments/operating-point")
async def save_operating_point(request: Request, _: CsrfDep, api: ApiDep) -> Response:
    """One class's threshold into the deployment's operating point (the others it has are kept)."""
    form = await request.form()
    deployment_id = str(form.get("deployment_id", ""))
    deployment = await api.deployments.get(deployment_id)
    thresholds: dict[str, dict[str, float]] = {
        head: dict(classes) for head, classes in deployment.operating_point.thresholds.items()
    }
    thresholds.setdefault(str(form.get("head", "")), {})[str(form.get("class_name", ""))] = number(
        form, "threshold", 0.5
    )
    await api.deployments.update(deployment_id, operating_point={"thresholds": thresholds})
    return RedirectResponse(f"/deployments/{path('{}', deployment_id)}?saved=1", status_code=303)


@router.get("/deployments/{deployment_id}")
async def deployment_page(
    request: Request, deployment_id: str, session: SessionDep, api: ApiDep, saved: int = 0
) -> HTMLResponse:
    deployment = await api.deployments.get(deployment_id)
    keys = [key async for key in api.keys.list(limit=200) if key.deployment_id == deployment_id]
    usage = [row for row in (await api.usage.get()).items if row.deployment_id == deployment_id]
    flash = "The operating point is saved: predictions now use it." if saved else None
    return render(
        request, "deployment.html", session, section="deployments", deployment=deployment, keys=keys, flash=flash,
        chart=_per_day(usage),
    )  # fmt: skip


@router.post("/deployments/{deployment_id}/scale")
async def scale(request: Request, deployment_id: str, _: CsrfDep, api: ApiDep) -> Response:
    form = await request.form()
    await api.deployments.update(
        deployment_id,
        min_replicas=integer(form, "min_replicas", 0),
        max_replicas=integer(form, "max_replicas", 1),
    )
    return RedirectResponse(f"/deployments/{path('{}', deployment_id)}", status_code=303)


@router.post("/deployments/{deployment_id}/delete")
async def delete(deployment_id: str, _: CsrfDep, api: ApiDep) -> Response:
    await api.deployments.delete(deployment_id)
    return RedirectResponse("/deployments", status_code=303)


@router.post("/deployments/{deployment_id}/predict")
async def predict(request: Request, deployment_id: str, session: CsrfDep, api: ApiDep) -> HTMLResponse:
    form = await request.form()
    lines = [line.strip() for line in str(form.get("texts", "")).splitlines() if line.strip()][:32]
    answer = await api.deployments.predict(deployment_id, lines or [""])
    outputs = [output.model_dump() for output in answer.outputs]
    return render(request, "predictions.html", session, pairs=list(zip(lines, outputs, strict=False)))


@router.post("/deployments/{deployment_id}/chat")
async def chat(request: Request, deployment_id: str, session: CsrfDep) -> Response:
    """An llm deployment's reply, streamed as it is generated."""
    return await relay_chat(request, session, path("/v1/deployments/{}/chat/completions", deployment_id))


@router.get("/keys")
async def keys_page(request: Request, session: SessionDep, api: ApiDep) -> HTMLResponse:
    keys = [key async for key in api.keys.list(limit=200)]
    deployments = [item async for item in api.deployments.list(limit=100)]
    return render(request, "keys.html", session, section="keys", keys=keys, deployments=deployments)


@router.post("/keys")
async def create_key(request: Request, session: CsrfDep, api: ApiDep) -> HTMLResponse:
    form = await request.form()
    deployment_id = str(form.get("deployment_id") or "") or None
    created = await api.keys.create(
        str(form.get("name", "")), scope="deployment" if deployment_id else "admin", deployment_id=deployment_id
    )
    keys = [key async for key in api.keys.list(limit=200)]
    deployments = [item async for item in api.deployments.list(limit=100)]
    return render(request, "keys.html", session, section="keys", keys=keys, deployments=deployments, created=created)


@router.post("/keys/{key_id}/revoke")
async def revoke_key(key_id: str, _: CsrfDep, api: ApiDep) -> Response:
    await api.keys.revoke(key_id)
    return RedirectResponse("/keys", status_code=303)


@router.get("/usage")
async def usage_page(request: Request, session: SessionDep, api: ApiDep) -> HTMLResponse:
    usage = await api.usage.get()
    return render(request, "usage.html", session, section="usage", usage=usage.items, chart=_per_day(usage.items))


def _per_day(rows: list[UsageRow]) -> dict[str, Any]:
    """Requests and errors per day, for the usage chart."""
    per_day: dict[str, dict[str, float]] = defaultdict(lambda: {"requests": 0, "errors": 0})
    for row in rows:
        per_day[row.day.isoformat()]["requests"] += row.requests
        per_day[row.day.isoformat()]["errors"] += row.errors
    days = sorted(per_day)
    return {
        "days": days,
        "requests": [per_day[day]["requests"] for day in days],
        "errors": [per_day[day]["errors"] for day in days],
    }
