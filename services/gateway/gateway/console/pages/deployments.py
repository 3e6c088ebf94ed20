"""Deployments: create, scale, status with replicas, predict from the page, the operating point (a threshold
per head and class, picked on a model's metrics page); keys (a new key's secret shown once; revoke) and usage
per day as a chart."""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from automl_common.http import url_path
from automl_proto import model_types
from automl_proto.inference import UsageRow
from gateway.console.chat import relay_chat
from gateway.console.deps import ApiDep, ConsoleSessionDep, CsrfDep
from gateway.console.forms import FormError, integer, number, refused_form, typed
from gateway.console.render import render

router = APIRouter(include_in_schema=False)


PAGE_SIZE = 25
FIELDS = ("model_id", "name", "min_replicas", "max_replicas")


async def _page(
    request: Request,
    session: Any,
    api: Any,
    *,
    chosen_model: str | None = None,
    after: str | None = None,
    values: dict[str, str] | None = None,
    form_error: FormError | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """A page of the list, and the form behind "New deployment" (open, as typed, when the API refused it)."""
    listed = await api.deployments.page(limit=PAGE_SIZE, after=after)
    models = [item async for item in api.models.list(limit=100) if item.status == "succeeded"][:200]
    values = dict(values or {})
    values.setdefault("model_id", chosen_model or "")
    return render(
        request,
        "deployments.html",
        session,
        section="deployments",
        deployments=listed.items,
        next_cursor=listed.next,
        first_page=after is None,
        models=models,
        values=values,
        form_error=form_error,
        open_form=form_error is not None or chosen_model is not None or (after is None and not listed.items),
        status_code=status_code,
    )


@router.get("/deployments")
async def deployments_page(
    request: Request,
    session: ConsoleSessionDep,
    api: ApiDep,
    model: Annotated[str | None, Query(max_length=128)] = None,
    after: Annotated[str | None, Query(max_length=512)] = None,
) -> HTMLResponse:
    return await _page(request, session, api, chosen_model=model, after=after)


@router.post("/deployments")
async def create_deployment(request: Request, session: CsrfDep, api: ApiDep) -> Response:
    form = await request.form()
    values = typed(form)
    try:
        deployment = await api.deployments.create(
            model_id=values.get("model_id", ""),
            name=values.get("name", ""),
            min_replicas=integer(form, "min_replicas", 1),
            max_replicas=integer(form, "max_replicas", 1),
        )
    except Exception as error:  # the user's to correct (the form again), or the console's error pages'

        async def again(refused: FormError, status: int) -> Response:
            return await _page(request, session, api, values=values, form_error=refused, status_code=status)

        return await refused_form(error, FIELDS, again)
    return RedirectResponse(f"/deployments/{url_path('{}', deployment.id)}", status_code=303)


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
    return RedirectResponse(f"/deployments/{url_path('{}', deployment_id)}?saved=1", status_code=303)


@router.get("/deployments/{deployment_id}")
async def deployment_page(
    request: Request, deployment_id: str, session: ConsoleSessionDep, api: ApiDep, saved: int = 0
) -> HTMLResponse:
    deployment = await api.deployments.get(deployment_id)
    keys = [key async for key in api.keys.list(limit=200) if key.deployment_id == deployment_id]
    usage = [row for row in (await api.usage.get()).items if row.deployment_id == deployment_id]
    flash = "The operating point is saved: predictions now use it." if saved else None
    base = str(request.base_url).rstrip("/")
    return render(
        request, "deployment.html", session, section="deployments", deployment=deployment, keys=keys, flash=flash,
        input_kind=model_types.info(deployment.model_type).input_kind,
        chart=_per_day(usage), endpoint=_endpoint(base, deployment), snippets=_snippets(base, deployment),
    )  # fmt: skip


def _endpoint(base: str, deployment: Any) -> str:
    kind = "chat/completions" if model_types.info(deployment.model_type).input_kind == "chat" else "predict"
    return f"{base}{url_path('/v1/deployments/{}', deployment.id)}/{kind}"


def _snippets(base: str, deployment: Any) -> dict[str, str]:
    """Requests to copy (the key from the environment, never the page): curl and the Python SDK, and for an llm
    OpenAI's own client, which needs only the base URL."""
    deployment_id = deployment.id
    input_kind = model_types.info(deployment.model_type).input_kind
    if input_kind == "chat":
        body = '{"messages": [{"role": "user", "content": "Hello!"}], "max_tokens": 64}'
        return {
            "curl": f"curl -s {_endpoint(base, deployment)} \\\n"
            '  -H "Authorization: Bearer $AUTOML_API_KEY" -H "Content-Type: application/json" \\\n'
            f"  -d '{body}'",
            "python": "from automl_client import Client\n\n"
            f'with Client("{base}") as client:  # the key from AUTOML_API_KEY\n'
            f'    messages = [{{"role": "user", "content": "Hello!"}}]\n'
            f'    reply = client.deployments.chat("{deployment_id}", messages=messages)\n'
            "    print(reply.choices[0].message.content)",
            "openai": "import os\n\nfrom openai import OpenAI\n\n"
            f'client = OpenAI(base_url="{base}/v1/deployments/{deployment_id}", api_key=os.environ["AUTOML_API_KEY"])\n'
            f'stream = client.chat.completions.create(model="{deployment_id}", stream=True,\n'
            '    messages=[{"role": "user", "content": "Hello!"}])\n'
            'for chunk in stream:\n    print(chunk.choices[0].delta.content or "", end="")',
        }
    example = (
        '{"image_url": "https://example.com/photo.jpg"}'
        if input_kind == "image"
        else '"The delivery was quick and the product works well."'
    )
    return {
        "curl": f"curl -s {_endpoint(base, deployment)} \\\n"
        '  -H "Authorization: Bearer $AUTOML_API_KEY" -H "Content-Type: application/json" \\\n'
        f"  -d '{{\"inputs\": [{example}]}}'",
        "python": "from automl_client import Client\n\n"
        f'with Client("{base}") as client:  # the key from AUTOML_API_KEY\n'
        f'    answer = client.deployments.predict("{deployment_id}", [{example}])\n'
        "    print(answer.outputs[0])",
    }


@router.post("/deployments/{deployment_id}/scale")
async def scale(request: Request, deployment_id: str, _: CsrfDep, api: ApiDep) -> Response:
    form = await request.form()
    await api.deployments.update(
        deployment_id,
        min_replicas=integer(form, "min_replicas", 0),
        max_replicas=integer(form, "max_replicas", 1),
    )
    return RedirectResponse(f"/deployments/{url_path('{}', deployment_id)}", status_code=303)


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
    return await relay_chat(request, session, url_path("/v1/deployments/{}/chat/completions", deployment_id))


@router.get("/keys")
async def keys_page(request: Request, session: ConsoleSessionDep, api: ApiDep) -> HTMLResponse:
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
async def usage_page(request: Request, session: ConsoleSessionDep, api: ApiDep) -> HTMLResponse:
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
