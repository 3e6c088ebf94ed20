"""playground, deploy, predict, batch-predict, usage, deployments, tasks, batch-predictions."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from automl_client import errors
from automl_client.cli.output import console, emit_json, err_console, listing, plain, show
from automl_client.cli.state import KINDS, Json, Quiet, Yes, client, confirm, handled, resolve
from automl_proto import inference

deployments = typer.Typer(help="Endpoints serving a model: scale, inspect, delete.", no_args_is_help=True)
batch_predictions = typer.Typer(help="Batch predictions over a snapshot or a dataset.", no_args_is_help=True)
tasks = typer.Typer(help="Asynchronous predictions (deployments' tasks).", no_args_is_help=True)


def _image(path: Path) -> dict[str, str]:
    """A local image file as the API takes it (base64 in the request)."""
    import base64

    return {"image_base64": base64.b64encode(path.read_bytes()).decode()}


ImageFile = Annotated[
    Path | None,
    typer.Option("--image", exists=True, dir_okay=False, readable=True, help="a local image file (PNG, JPEG...)"),
]


def _input(text: str | None, image_url: str | None, prompt: str | None, image: Path | None = None) -> Any:
    given = [value for value in (text, image_url, prompt, image) if value is not None]
    if len(given) != 1:
        raise typer.BadParameter("give exactly one of TEXT, --image, --image-url and --prompt")
    if image is not None:
        return _image(image)
    if image_url is not None:
        return {"image_url": image_url}
    if prompt is not None:
        return {"prompt": prompt}
    return text


def _print_output(output: inference.Output) -> None:
    if isinstance(output, inference.Generation):
        console.print(escape(output.text))
        return
    if isinstance(output, inference.Segmentation):
        shares = sorted(output.pixel_shares.items(), key=lambda item: -item[1])
        console.print(", ".join(f"[bold]{escape(name)}[/] {share:.1%}" for name, share in shares if share > 0))
        return
    if isinstance(output, inference.Detections):
        for found in output.detections:
            box = ", ".join(f"{value:g}" for value in found.box)
            console.print(f"[bold]{escape(found.label)}[/] {found.score:.3f}  [{escape(box)}]")
        if not output.detections:
            console.print("no objects found")
        return
    for head, prediction in output.heads.items():
        scores = ", ".join(f"{label} {score:.3f}" for label, score in prediction.scores.items())
        console.print(f"[bold]{escape(head)}[/]: {escape(', '.join(prediction.predicted) or '-')}  ({escape(scores)})")


def playground(
    model_id: str,
    text: Annotated[str | None, typer.Argument(help="the text to classify")] = None,
    image: ImageFile = None,
    image_url: Annotated[str | None, typer.Option("--image-url")] = None,
    prompt: Annotated[str | None, typer.Option("--prompt", help="an llm model's prompt")] = None,
    as_json: Json = False,
) -> None:
    """Try a trained model (its id or name) before deploying it (uses one of its free queries)."""
    model_id = resolve("model", model_id)
    output, remaining = client().models.playground(model_id, _input(text, image_url, prompt, image))
    if as_json:
        emit_json({"output": plain(output), "remaining": remaining})
        return
    _print_output(output)
    err_console.print(f"[dim]{remaining} free queries left[/]")


def deploy(
    model_id: str,
    name: Annotated[str, typer.Option("--name")],
    min_replicas: Annotated[int, typer.Option("--min-replicas", min=0)] = 1,
    max_replicas: Annotated[int, typer.Option("--max-replicas", min=1)] = 1,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="wait until it is ready")] = True,
    as_json: Json = False,
    quiet: Quiet = False,
) -> None:
    """Deploy a model as an autoscaled endpoint."""
    model_id = resolve("model", model_id)
    deployment = client().deployments.create(
        model_id=model_id, name=name, min_replicas=min_replicas, max_replicas=max_replicas
    )
    if wait:
        deployment = client().deployments.wait(deployment.id)
    show(deployment, as_json, quiet=quiet)


def predict(
    deployment_id: str,
    image: Annotated[
        list[Path] | None,
        typer.Option("--image", exists=True, dir_okay=False, readable=True, help="image files, instead of stdin"),
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, max=512)] = 32,
    as_json: Json = False,
) -> None:
    """Predict each line of standard input (a text a line), or each --image file: one answer a line, in the
    order of the inputs (a blank line gets an empty answer, so outputs join back to inputs line by line)."""
    deployment_id = resolve("deployment", deployment_id)
    inputs: list[Any] = [_image(path) for path in image] if image else [line.rstrip("\n") for line in sys.stdin]
    shown = [str(path) for path in image] if image else inputs
    for start in range(0, len(inputs), batch_size):
        chunk = inputs[start : start + batch_size]
        asked = [item for item in chunk if not isinstance(item, str) or item.strip()]
        answers = iter(client().deployments.predict(deployment_id, asked).outputs if asked else [])
        for position, item in enumerate(chunk, start):
            blank = isinstance(item, str) and not item.strip()
            output = None if blank else next(answers)
            if as_json:
                sys.stdout.write(("{}" if output is None else _one(output)) + "\n")
            else:
                console.print(f"[dim]{escape(str(shown[position])[:60])}[/]")
                console.print("[dim](blank line)[/]") if output is None else _print_output(output)


def _one(output: inference.Output) -> str:
    return inference.PredictResponse(outputs=[output]).model_dump_json()


def batch_predict(
    model: Annotated[str | None, typer.Option("--model", help="straight from a model (free playground rows)")] = None,
    deployment: Annotated[str | None, typer.Option("--deployment")] = None,
    snapshot: Annotated[str | None, typer.Option("--snapshot")] = None,
    dataset: Annotated[str | None, typer.Option("--dataset")] = None,
    input_column: Annotated[str | None, typer.Option("--input-column")] = None,
    output_format: Annotated[str, typer.Option("--format", help="jsonl or csv")] = "jsonl",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="where to save the results")] = None,
    as_json: Json = False,
) -> None:
    """Predict every row of a snapshot or dataset, wait, and download the results (each named by id or name)."""
    fields = {
        "model_id": model and resolve("model", model),
        "deployment_id": deployment and resolve("deployment", deployment),
        "snapshot_id": snapshot and resolve("snapshot", snapshot),
        "dataset_id": dataset and resolve("dataset", dataset),
        "input_column": input_column,
        "format": output_format,
    }
    batch = client().batch_predictions.create(**{key: value for key, value in fields.items() if value is not None})
    if not as_json:
        err_console.print(f"batch prediction {batch.id} {batch.status}")

    def progress(state: inference.BatchPrediction) -> None:
        if not as_json:
            total = state.progress.rows_total
            err_console.print(
                f"  {state.status}: {state.progress.rows_done}/{total if total is not None else '?'} rows"
            )

    batch = client().batch_predictions.wait(batch.id, on_progress=progress)
    target = output or Path(f"{batch.id}.{batch.format}")
    download = client().batch_predictions.results(batch.id, target)
    if as_json:
        emit_json({"batch": plain(batch), "path": download.path, "bytes": download.size})
    else:
        console.print(f"results of {batch.progress.rows_done} rows in {download.path} ({download.size} bytes)")


def usage(
    since: Annotated[str | None, typer.Option("--from", help="YYYY-MM-DD")] = None,
    until: Annotated[str | None, typer.Option("--to", help="YYYY-MM-DD")] = None,
    as_json: Json = False,
) -> None:
    """Requests, errors, latency and tokens per day, deployment and key."""
    listing(
        client().usage.get(since=since, until=until).items,
        [
            ("day", lambda u: u.day),
            ("deployment", lambda u: u.deployment_id),
            ("key", lambda u: u.key_id),
            ("requests", lambda u: u.requests),
            ("errors", lambda u: u.errors),
            ("mean ms", lambda u: u.mean_latency_ms),
            ("tokens in/out", lambda u: f"{u.prompt_tokens}/{u.completion_tokens}"),
        ],
        as_json,
        "usage",
    )


@deployments.command("list")
@handled
def deployments_list(as_json: Json = False, quiet: Quiet = False) -> None:
    listing(
        client().deployments.list(),
        [
            ("id", lambda d: d.id),
            ("name", lambda d: d.name),
            ("model", lambda d: d.model_id),
            ("status", lambda d: d.status),
            ("replicas", lambda d: f"{d.min_replicas}-{d.max_replicas}"),
        ],
        as_json,
        "deployments",
        quiet=quiet,
    )


@deployments.command("get")
@handled
def deployments_get(deployment_id: str, as_json: Json = False, quiet: Quiet = False) -> None:
    deployment_id = resolve("deployment", deployment_id)
    show(client().deployments.get(deployment_id), as_json, quiet=quiet)


@deployments.command("scale")
@handled
def deployments_scale(
    deployment_id: str,
    min_replicas: Annotated[int | None, typer.Option("--min-replicas", min=0)] = None,
    max_replicas: Annotated[int | None, typer.Option("--max-replicas", min=1)] = None,
    as_json: Json = False,
    quiet: Quiet = False,
) -> None:
    deployment_id = resolve("deployment", deployment_id)
    fields = {"min_replicas": min_replicas, "max_replicas": max_replicas}
    show(
        client().deployments.update(deployment_id, **{k: v for k, v in fields.items() if v is not None}),
        as_json,
        quiet=quiet,
    )


@deployments.command("delete")
@handled
def deployments_delete(deployment_id: str, yes: Yes = False, as_json: Json = False, quiet: Quiet = False) -> None:
    """Stop serving and delete the deployment (asks first; --yes does not)."""
    deployment_id = resolve("deployment", deployment_id)
    confirm(f"Delete deployment {deployment_id}: it stops answering at once", yes)
    show(client().deployments.delete(deployment_id), as_json, quiet=quiet)


@batch_predictions.command("list")
@handled
def batch_predictions_list(as_json: Json = False, quiet: Quiet = False) -> None:
    listing(
        client().batch_predictions.list(),
        [
            ("id", lambda b: b.id),
            ("status", lambda b: b.status),
            ("model", lambda b: b.model_id),
            ("deployment", lambda b: b.deployment_id),
            ("rows", lambda b: f"{b.progress.rows_done}/{b.progress.rows_total}"),
        ],
        as_json,
        "batch predictions",
        quiet=quiet,
    )


@batch_predictions.command("get")
@handled
def batch_predictions_get(batch_id: str, as_json: Json = False, quiet: Quiet = False) -> None:
    show(client().batch_predictions.get(batch_id), as_json, quiet=quiet)


@tasks.command("get")
@handled
def tasks_get(
    task_id: str,
    wait: Annotated[bool, typer.Option("--wait", help="until it has its outputs")] = False,
    as_json: Json = False,
    quiet: Quiet = False,
) -> None:
    show(client().tasks.wait(task_id) if wait else client().tasks.get(task_id), as_json, quiet=quiet)


def _chat_target(ref: str) -> tuple[str, str]:
    """("deployment" or "model", its id) from an id or a name (a deployment's name first, then a model's)."""
    if ref.startswith(KINDS["model"][0]):
        return "model", ref
    try:
        return "deployment", resolve("deployment", ref)
    except errors.NameNotFound:
        return "model", resolve("model", ref)


def chat(
    target: Annotated[str, typer.Argument(help="an llm deployment, or an llm model (its playground): id or name")],
    message: Annotated[
        str | None, typer.Argument(help="one message; without it, a conversation: a message a line from stdin")
    ] = None,
    system: Annotated[str | None, typer.Option("--system", help="a system message first")] = None,
    max_tokens: Annotated[int | None, typer.Option("--max-tokens", min=1, max=4096, help="default: the API's")] = None,
    temperature: Annotated[float, typer.Option("--temperature", min=0.0, max=2.0)] = 1.0,
    stream: Annotated[bool, typer.Option("--stream/--no-stream", help="print the reply as it is generated")] = True,
    as_json: Json = False,
) -> None:
    """Chat with an llm: a deployment, or a model's playground (one free query a reply). The reply streams in
    as it is generated; each message a line of stdin continues the same conversation."""
    kind, target_id = _chat_target(target)
    messages: list[dict[str, str]] = [{"role": "system", "content": system}] if system else []

    def turn(text: str) -> None:
        messages.append({"role": "user", "content": text})
        fields: dict[str, Any] = {"messages": messages, "temperature": temperature}
        if max_tokens is not None:
            fields["max_tokens"] = max_tokens
        if stream and not as_json:
            pieces: list[str] = []
            chunks = (
                client().deployments.chat(target_id, stream=True, **fields)
                if kind == "deployment"
                else client().models.chat(target_id, stream=True, **fields)
            )
            for chunk in chunks:
                for choice in chunk.choices:
                    if choice.delta.content:
                        pieces.append(choice.delta.content)
                        sys.stdout.write(choice.delta.content)
                        sys.stdout.flush()
            sys.stdout.write("\n")
            reply = "".join(pieces)
        else:
            answer = (
                client().deployments.chat(target_id, **fields)
                if kind == "deployment"
                else client().models.chat(target_id, **fields)[0]
            )
            reply = answer.choices[0].message.content
            emit_json(answer) if as_json else sys.stdout.write(reply + "\n")
        messages.append({"role": "assistant", "content": reply})

    if message is not None:
        turn(message)
        return
    for line in sys.stdin:
        if line.strip():
            turn(line.rstrip("\n"))
