"""models: training runs, their live progress, metrics and card."""

from __future__ import annotations

from typing import Annotated

import typer
from rich import box
from rich.table import Table
from rich.text import Text
from typer._click.core import Context as ClickContext
from typer.core import TyperCommand

from automl_client.cli.live import follow_training
from automl_client.cli.output import console, emit_json, listing, show
from automl_client.cli.state import Json, Quiet, Yes, client, confirm, handled, parse_pairs, resolve
from automl_client.errors import ResourceFailed
from automl_proto import model_types
from automl_proto.metrics import ModelMetrics
from automl_proto.models import TrainingOptions

models = typer.Typer(help="Train models, follow them, read their evaluation.", no_args_is_help=True)


@models.command("list")
@handled
def models_list(as_json: Json = False, quiet: Quiet = False) -> None:
    listing(
        client().models.list(),
        [
            ("id", lambda m: m.id),
            ("name", lambda m: m.name),
            ("type", lambda m: m.model_type),
            ("method", lambda m: m.method),
            ("status", lambda m: m.status),
            ("base", lambda m: m.base_model),
        ],
        as_json,
        "models",
        quiet=quiet,
    )


@models.command("get")
@handled
def models_get(model_id: str, as_json: Json = False, quiet: Quiet = False) -> None:
    model_id = resolve("model", model_id)
    show(client().models.get(model_id), as_json, quiet=quiet)


def _follow(model_id: str, as_json: bool) -> None:
    last = follow_training(client().models.watch(model_id), as_json)
    if last is not None and last.status in ("failed", "cancelled"):
        raise ResourceFailed(f"model {model_id} {last.status}: {last.error or last.status}", last)
    if last is not None and not as_json:
        console.print(f"model [bold]{model_id}[/] {last.status}; automl models metrics {model_id}")


class _TrainingOptionHints(TyperCommand):
    """``--max-epochs 5`` names a training option, which is given as ``--option max_epochs=5``: say so, where
    Click would only say the option does not exist (Typer's Click: its own copy, ``typer._click``)."""

    def parse_args(self, ctx: ClickContext, args: list[str]) -> list[str]:
        from typer._click.exceptions import NoSuchOption

        try:
            return super().parse_args(ctx, args)
        except NoSuchOption as error:
            name = error.option_name.lstrip("-").replace("-", "_").split("=")[0]
            if name not in TrainingOptions.model_fields:
                raise
            hint = f"No such option: {error.option_name}. Did you mean --option {name}=VALUE (a training option)?"
            raise NoSuchOption(error.option_name, message=hint, ctx=ctx) from None


@models.command("create", cls=_TrainingOptionHints)
@handled
def models_create(
    name: Annotated[str, typer.Option("--name")],
    base_model: Annotated[str, typer.Option("--base-model", help="a base model's name or id")],
    snapshot: Annotated[str, typer.Option("--snapshot", help="the training snapshot")],
    method: Annotated[
        str | None, typer.Option("--method", help="last_layer, lora or full; default: the type's (lora for llm)")
    ] = None,
    model_type: Annotated[
        str | None,
        typer.Option("--type", help=f"{', '.join(model_types.NAMES)}; default: the snapshot's"),
    ] = None,
    test_snapshot: Annotated[str | None, typer.Option("--test-snapshot")] = None,
    test_split_pct: Annotated[float | None, typer.Option("--test-split-pct")] = None,
    parent: Annotated[str | None, typer.Option("--parent", help="start from this model of the org")] = None,
    description: Annotated[str, typer.Option("--description")] = "",
    option: Annotated[
        list[str] | None, typer.Option("--option", help="a training option KEY=VALUE, e.g. max_epochs=5")
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="follow the run live until it ends")] = False,
    as_json: Json = False,
    quiet: Quiet = False,
) -> None:
    """Start a training run (test on a snapshot, or on a stratified split: 20% by default)."""
    if test_snapshot is None and test_split_pct is None:
        test_split_pct = 20.0
    snapshot = resolve("snapshot", snapshot)
    test_snapshot = test_snapshot and resolve("snapshot", test_snapshot)
    parent = parent and resolve("model", parent)
    fields = {
        "name": name,
        "description": description,
        "model_type": model_type,
        "base_model": base_model,
        "method": method,
        "train_snapshot_id": snapshot,
        "test_snapshot_id": test_snapshot,
        "test_split_pct": test_split_pct,
        "parent_model_id": parent,
        "options": parse_pairs(option, "--option"),
    }
    model = client().models.create(**{key: value for key, value in fields.items() if value is not None})
    if not wait:
        show(model, as_json, quiet=quiet)
        return
    if quiet:  # no live view: the id once the run has succeeded (a failed run fails the command)
        model = client().models.wait(model.id)
        show(model, as_json, quiet=True)
        return
    if not as_json:
        console.print(f"model [bold]{model.id}[/] {model.status}")
    _follow(model.id, as_json)


@models.command("watch")
@handled
def models_watch(model_id: str, as_json: Json = False) -> None:
    """Follow a run live: epoch, step, loss, validation metric, examples per second, ETA."""
    model_id = resolve("model", model_id)
    _follow(model_id, as_json)


@models.command("cancel")
@handled
def models_cancel(model_id: str, as_json: Json = False, quiet: Quiet = False) -> None:
    model_id = resolve("model", model_id)
    show(client().models.cancel(model_id), as_json, quiet=quiet)


@models.command("delete")
@handled
def models_delete(model_id: str, yes: Yes = False, as_json: Json = False) -> None:
    """Delete the model (asks first; --yes does not)."""
    model_id = resolve("model", model_id)
    confirm(f"Delete model {model_id}", yes)
    client().models.delete(model_id)
    emit_json({"deleted": model_id}) if as_json else console.print(f"deleted {model_id}")


@models.command("events")
@handled
def models_events(model_id: str, as_json: Json = False, quiet: Quiet = False) -> None:
    model_id = resolve("model", model_id)
    listing(
        client().models.events(model_id),
        [("seq", lambda e: e.seq), ("kind", lambda e: e.kind), ("message", lambda e: e.message)],
        as_json,
        "events",
        quiet=quiet,
    )


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def metrics_tables(report: ModelMetrics) -> list[Table]:
    tables = []
    overall = report.overall
    summary = Table(title=f"model {report.model_id}: overall (against {report.baseline.get('name', 'the baseline')})")
    for name in ("metric", "model", "baseline", "change"):
        summary.add_column(name)
    baseline_overall = report.baseline.get("overall", {})
    delta_overall = report.delta.get("overall", {})
    for key in ("accuracy", "precision", "recall", "specificity", "f1", "balanced_accuracy", "loss", "perplexity"):
        value = getattr(overall, key, None)
        if value is None:
            continue
        change = delta_overall.get(key)
        summary.add_row(
            key, _figure(value), _figure(baseline_overall.get(key)), "-" if change is None else f"{change:+.4f}"
        )
    tables.append(summary)
    for head_name, head in report.heads.items():
        if head.cuts:
            cut = ", ".join(f"{name} at {value:g}" for name, value in head.cuts.items())
        else:
            cut = "argmax" if head.threshold is None else f"threshold {head.threshold:g}"
        # Short headings and no inner rules: the nine columns fit 80 columns with every figure whole.
        table = Table(
            title=f"head {head_name} ({head.rows} test rows, {cut}; accuracy {head.accuracy:.4f})",
            caption="prec. precision, spec. specificity, bal. balanced accuracy, n test rows of the class",
            box=box.SIMPLE_HEAD,
            collapse_padding=True,
            pad_edge=False,
        )
        for name in ("class", "prec.", "recall", "spec.", "F1", "bal.", "n", "AUC", "AP"):
            table.add_column(name, no_wrap=True)
        for class_name, figures in head.classes.items():
            table.add_row(
                Text(class_name),
                _figure(figures.precision),
                _figure(figures.recall),
                _figure(figures.specificity),
                _figure(figures.f1),
                _figure(figures.balanced_accuracy),
                str(figures.support),
                _figure(figures.roc_auc),
                _figure(figures.average_precision),
            )
        macro = head.macro
        table.add_row(
            "[bold]macro[/]",
            _figure(macro.precision),
            _figure(macro.recall),
            _figure(macro.specificity),
            _figure(macro.f1),
            _figure(macro.balanced_accuracy),
            str(head.rows),
            _figure(macro.roc_auc),
            _figure(macro.average_precision),
        )
        tables.append(table)
        if head.confusion_matrix.matrix is not None:
            labels = head.confusion_matrix.labels
            confusion = Table(title=f"head {head_name}: confusion matrix (actual x predicted)")
            confusion.add_column("actual \\ predicted", no_wrap=True)
            for label in labels:
                confusion.add_column(Text(label))
            unpredicted = head.confusion_matrix.unpredicted
            if unpredicted is not None and any(unpredicted):
                confusion.add_column("(none reached)")
            for position, (label, counts) in enumerate(zip(labels, head.confusion_matrix.matrix, strict=True)):
                extra = [str(unpredicted[position])] if unpredicted is not None and any(unpredicted) else []
                confusion.add_row(Text(label), *(str(count) for count in counts), *extra)
            tables.append(confusion)
    return tables


@models.command("metrics")
@handled
def models_metrics(
    model_id: str,
    threshold: Annotated[
        float | None, typer.Option(min=0.0, max=1.0, help="every figure at this cut-off, the baseline's too")
    ] = None,
    head: Annotated[str | None, typer.Option(help="one head only")] = None,
    threshold_class: Annotated[
        str | None, typer.Option("--class", help="the cut-off on this class of --head only (an operating point)")
    ] = None,
    as_json: Json = False,
) -> None:
    """Precision, recall, specificity, F1, balanced accuracy, AUC per head and class; against the baseline."""
    model_id = resolve("model", model_id)
    report = client().models.metrics(model_id, threshold=threshold, head=head, threshold_class=threshold_class)
    if as_json:
        emit_json(report)
        return
    for table in metrics_tables(report):
        console.print(table)


@models.command("card")
@handled
def models_card(model_id: str, as_json: Json = False) -> None:
    """The model card (markdown)."""
    model_id = resolve("model", model_id)
    card = client().models.card(model_id)
    if as_json:
        emit_json({"model_id": model_id, "card": card})
        return
    from rich.markdown import Markdown

    console.print(Markdown(card)) if console.is_terminal else console.file.write(card)
