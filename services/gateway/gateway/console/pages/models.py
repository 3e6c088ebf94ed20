"""Models: create (every option with a one-line explanation), the run's live progress and loss chart, cancel,
and the evaluation: metrics by head overall and by class, the improvement over the baseline, PR and ROC
curves with a threshold slider (the figures at each cut-off come from the stored threshold table), the
confusion matrix, the per-epoch table, the model card; and saving a cut-off as a deployment's operating
point."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from markdown_it import MarkdownIt
from markupsafe import Markup

from automl_common import palette
from automl_common.http import url_path
from automl_proto import model_types
from gateway.console.chat import relay_chat
from gateway.console.deps import ApiDep, ConsoleSessionDep, CsrfDep
from gateway.console.forms import FormError, number, refused_form, typed
from gateway.console.render import render

router = APIRouter(prefix="/models", include_in_schema=False)
PAGE_SIZE = 25
_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")  # raw HTML in a card is shown as text

# (option, input type, one-line explanation); nested options are written "parent.child".
OPTIONS: list[tuple[str, str, str]] = [
    ("max_epochs", "number", "Passes over the training rows; empty: the method's default."),
    ("learning_rate", "number", "Step size of the optimiser; empty: the method's default."),
    ("batch_size", "number", "Examples per step; empty: the method's default."),
    ("eval_strategy", "select:epoch,steps", "Validate after every epoch, or every N steps."),
    ("eval_steps", "number", "With 'steps': validate every this many steps."),
    ("early_stopping.patience", "number", "Stop after this many validations without improvement (empty: never)."),
    ("early_stopping.min_delta", "number", "The smallest change that counts as an improvement."),
    ("selection.metric", "select:f1,accuracy,precision,recall,balanced_accuracy,loss", "Keeps the weights best on it."),
    ("selection.head", "text", "The head it is read on; empty: the average of the heads."),
    ("selection.class", "text", "...and on one of that head's classes; empty: the head's macro average."),
    ("class_weights", "select:none,balanced", "'balanced' weighs rare classes up in the loss."),
    ("head_learning_rate", "number", "LoRA and full: the heads' own step size (default 1e-3)."),
    ("weight_decay", "number", "Pulls weights toward zero a little each step (regularisation)."),
    ("warmup_ratio", "number", "Share of the steps over which the step size rises from zero."),
    ("seed", "number", "Same seed, same data and options: the same model."),
    ("max_length", "number", "Tokens per example; text: 128; llm: room for 99% of the rows (long prompts cut)."),
    ("image_size", "number", "Images: the side of the centre crop in pixels; empty: the base model's."),
    ("augment", "select:false,true", "Images: random crops or zooms and flips; default: on for boxes and masks."),
    ("validation_pct", "number", "Share of the training rows held out to validate on."),
    ("lora.r", "number", "LoRA: the rank of the adapters (capacity)."),
    ("lora.alpha", "number", "LoRA: the scale of the adapters' updates."),
    ("lora.dropout", "number", "LoRA: dropout on the adapters' input."),
    ("lora.target_modules", "text", 'LoRA: the layers adapted, as JSON, e.g. ["query", "value"]; empty: the base\'s.'),
    ("precision", "select:auto,bf16,fp16,fp32", "Number format of the steps on a GPU; auto: bf16 where it has it."),
    ("gpus", "number", "Processes (GPUs) per node; empty: the platform's."),
    ("nodes", "number", "Nodes; more than one process trains with torch.distributed."),
    ("deadline_s", "number", "Stop the run after this many seconds; empty: the platform's limit."),
]


def _options(form: Any) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for name, _, _ in OPTIONS:
        raw = str(form.get(f"opt:{name}") or "").strip()
        if not raw:
            continue
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        parent, _, child = name.partition(".")
        if child:
            options.setdefault(parent, {})[child] = value
        else:
            options[parent] = value
    return options


FIELDS = (
    "name",
    "description",
    "base_model",
    "method",
    "train_snapshot_id",
    "test_snapshot_id",
    "test_split_pct",
    "parent_model_id",
    "options",
    *(f"opt:{name}" for name, _, _ in OPTIONS),
)


async def _page(
    request: Request,
    session: Any,
    api: Any,
    *,
    chosen_snapshot: str | None = None,
    after: str | None = None,
    values: dict[str, str] | None = None,
    form_error: FormError | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """The list (a page of it), and the create form behind "New model": open, with what was typed and the
    reason beside its field, when the API refused it. Base models and test snapshots of the training
    snapshot's type come first and are chosen by default (the page's script hides the others)."""
    listed = await api.models.page(limit=PAGE_SIZE, after=after)
    snapshots = [item async for item in api.snapshots.list(limit=100) if item.status == "ready"][:200]
    bases = [item async for item in api.base_models.list()]
    values = dict(values or {})
    chosen = values.get("train_snapshot_id") or chosen_snapshot or ""
    snapshot = next((item for item in snapshots if item.id == chosen), snapshots[0] if snapshots else None)
    kind = snapshot.type if snapshot is not None else None
    if "base_model" not in values:
        fitting = [base for base in bases if base.model_type == kind]
        ready = [base for base in fitting if base.status == "ready"] or fitting
        values["base_model"] = ready[0].id if ready else ""
    values.setdefault("test_split_pct", "20")
    return render(
        request,
        "models.html",
        session,
        section="models",
        models=listed.items,
        next_cursor=listed.next,
        first_page=after is None,
        snapshots=snapshots,
        base_models=bases,
        chosen_snapshot=snapshot.id if snapshot is not None else "",
        chosen_type=kind,
        options=OPTIONS,
        parents=[item async for item in api.models.list(limit=100) if item.status == "succeeded"][:100],
        values=values,
        form_error=form_error,
        open_form=form_error is not None or chosen_snapshot is not None or (after is None and not listed.items),
        status_code=status_code,
    )


@router.get("")
async def models_page(
    request: Request,
    session: ConsoleSessionDep,
    api: ApiDep,
    snapshot: Annotated[str | None, Query(max_length=128)] = None,
    after: Annotated[str | None, Query(max_length=512)] = None,
) -> HTMLResponse:
    return await _page(request, session, api, chosen_snapshot=snapshot, after=after)


@router.post("")
async def create_model(request: Request, session: CsrfDep, api: ApiDep) -> Response:
    form = await request.form()
    values = typed(form)
    try:
        fields: dict[str, Any] = {
            "name": values.get("name", ""),
            "description": values.get("description", ""),
            "base_model": values.get("base_model", ""),
            "train_snapshot_id": values.get("train_snapshot_id", ""),
            "options": _options(form),
        }
        if values.get("method"):
            fields["method"] = values["method"]
        if values.get("test_snapshot_id"):
            fields["test_snapshot_id"] = values["test_snapshot_id"]
        else:
            fields["test_split_pct"] = number(form, "test_split_pct", 20)
        if values.get("parent_model_id"):
            fields["parent_model_id"] = values["parent_model_id"]
        model = await api.models.create(**fields)
    except Exception as error:  # the user's to correct (the form again), or the console's error pages'

        async def again(refused: FormError, status: int) -> Response:
            return await _page(request, session, api, values=values, form_error=refused, status_code=status)

        return await refused_form(error, FIELDS, again)
    return RedirectResponse(f"/models/{url_path('{}', model.id)}", status_code=303)


async def _history(api: Any, model_id: str) -> dict[str, list[float | None]]:
    """Loss as it trains: the steps' (progress events) and the validations' (epoch events)."""
    steps: list[float | None] = []
    losses: list[float | None] = []
    validation_steps: list[float | None] = []
    validation_losses: list[float | None] = []
    async for event in api.models.events(model_id, limit=2000):
        data = event.data
        if event.kind == "progress" and data.get("loss") is not None:
            steps.append(float(data.get("step", len(steps))))
            losses.append(float(data["loss"]))
        elif event.kind == "epoch" and data.get("val_loss") is not None:
            validation_steps.append(float(data.get("step", 0)))
            validation_losses.append(float(data["val_loss"]))
    return {"steps": steps, "loss": losses, "val_steps": validation_steps, "val_loss": validation_losses}


@router.get("/{model_id}")
async def model_page(request: Request, model_id: str, session: ConsoleSessionDep, api: ApiDep) -> HTMLResponse:
    model = await api.models.get(model_id)
    context: dict[str, Any] = {"model": model, "input_kind": model_types.info(model.model_type).input_kind}
    if model.status == "succeeded":
        report = await api.models.metrics(model_id)
        context["report"] = report
        context["metrics_data"] = report.model_dump(mode="json")  # |tojson in the page: safe inside <script>
        context["at"] = {name: _at_context(report, name, _minority(head), None) for name, head in report.heads.items()}
        # Rendered with raw HTML disabled: what a card holds is text, never markup of its own.
        context["card"] = Markup(_MARKDOWN.render(await api.models.card(model_id)))  # noqa: S704
        deployments = [item async for item in api.deployments.list(limit=100) if item.model_id == model_id]
        context["deployments"] = deployments
    if request.headers.get("HX-Target") == "progress":
        return render(request, "model_progress.html", session, **context)
    return render(request, "model.html", session, section="models", **context)


def _minority(head: Any) -> str | None:
    """The class the curves open on: the rarest one present in the test rows (the one a threshold is usually for)."""
    present = [(figures.support, name) for name, figures in head.classes.items() if figures.support > 0]
    return min(present)[1] if present else next(iter(head.classes), None)


def _at_context(report: Any, head_name: str, class_name: str | None, cut: float | None) -> dict[str, Any]:
    head = report.heads[head_name]
    change = report.delta.get("heads", {}).get(head_name, {}).get("accuracy")
    shown = f"{class_name}@{cut:.2f}" if cut is not None else ""
    return {"head": head, "class_name": class_name, "cut": cut, "change": change, "shown": shown}


@router.get("/{model_id}/at")
async def at_threshold(
    request: Request,
    model_id: str,
    session: ConsoleSessionDep,
    api: ApiDep,
    head: Annotated[str, Query(max_length=200)],
    class_name: Annotated[str, Query(alias="class", max_length=200)],
    threshold: Annotated[float, Query(gt=0, lt=1)],
) -> HTMLResponse:
    """One head's figures and confusion matrix at the slider's cut-off on one class, recomputed by the API."""
    report = await api.models.metrics(model_id, threshold=threshold, head=head, threshold_class=class_name)
    return render(request, "model_at.html", session, **_at_context(report, head, class_name, threshold))


@router.get("/{model_id}/history")
async def history(model_id: str, _: ConsoleSessionDep, api: ApiDep) -> JSONResponse:
    return JSONResponse(await _history(api, model_id))


@router.post("/{model_id}/cancel")
async def cancel(model_id: str, _: CsrfDep, api: ApiDep) -> Response:
    await api.models.cancel(model_id)
    return RedirectResponse(f"/models/{url_path('{}', model_id)}", status_code=303)


@router.post("/{model_id}/chat")
async def chat(request: Request, model_id: str, session: CsrfDep) -> Response:
    """An llm model's playground reply, streamed as it is generated (one free query each)."""
    return await relay_chat(request, session, url_path("/v1/models/{}/playground/chat/completions", model_id))


@router.post("/{model_id}/playground")
async def playground(request: Request, model_id: str, session: CsrfDep, api: ApiDep) -> HTMLResponse:
    form = await request.form()
    upload = form.get("image_file")
    shown: dict[str, Any] = {}
    if upload is not None and not isinstance(upload, str) and upload.filename:
        import base64

        data = await upload.read(16 * 1024 * 1024 + 1)
        value: Any = {"image_base64": base64.b64encode(data).decode()}
        kind = upload.content_type if (upload.content_type or "").startswith("image/") else "image/png"
        shown["scored_image"] = f"data:{kind};base64,{value['image_base64']}"
    elif form.get("image_url"):
        value = {"image_url": str(form.get("image_url"))}
        shown["scored_url"] = value["image_url"]
    elif form.get("prompt"):
        value = {"prompt": str(form.get("prompt")), "max_new_tokens": 64}
    else:
        value = str(form.get("text") or "")
    output, remaining = await api.models.playground(model_id, value)
    return render(
        request, "playground_answer.html", session, output=output.model_dump(), remaining=remaining,
        class_colours=[palette.hex_colour(index) for index in range(256)], **shown,
    )  # fmt: skip
