"""datasets, snapshots and base models."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from automl_client.cli.live import UploadBar
from automl_client.cli.output import console, emit_json, listing, show
from automl_client.cli.state import Json, Quiet, Yes, client, confirm, handled, resolve
from automl_proto import datasets as dataset_schemas
from automl_proto import model_types

datasets = typer.Typer(help="Upload data, confirm its columns, read and edit its rows.", no_args_is_help=True)
snapshots = typer.Typer(help="Immutable, validated exports of a dataset for one model type.", no_args_is_help=True)
base_models = typer.Typer(help="The base models training starts from.", no_args_is_help=True)


@datasets.command("list")
@handled
def datasets_list(as_json: Json = False, quiet: Quiet = False) -> None:
    """The org's datasets."""
    listing(
        client().datasets.list(),
        [
            ("id", lambda d: d.id),
            ("name", lambda d: d.name),
            ("status", lambda d: d.status),
            ("rows", lambda d: d.row_count),
            ("invalid", lambda d: d.invalid_row_count),
            ("confirmed", lambda d: d.mapping_confirmed),
        ],
        as_json,
        "datasets",
        quiet=quiet,
    )


@datasets.command("get")
@handled
def datasets_get(dataset_id: str, as_json: Json = False, quiet: Quiet = False) -> None:
    dataset_id = resolve("dataset", dataset_id)
    show(client().datasets.get(dataset_id), as_json, quiet=quiet)


@datasets.command("upload")
@handled
def datasets_upload(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    name: Annotated[str | None, typer.Option("--name", help="default: the file's name")] = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="wait until the rows are read")] = True,
    as_json: Json = False,
    quiet: Quiet = False,
) -> None:
    """Upload a CSV, TSV, JSONL or a zip of one CSV plus images, with a progress bar."""
    with UploadBar(f"uploading {file.name}", quiet=as_json or quiet) as on_progress:
        dataset = client().datasets.upload(file, name=name, on_progress=on_progress)
    if wait:
        dataset = client().datasets.wait(dataset.id)
    if quiet:
        show(dataset, as_json, quiet=True)
        return
    if as_json:
        emit_json(dataset)
        return
    console.print(f"dataset [bold]{dataset.id}[/] {dataset.status}: {dataset.row_count} rows")
    if dataset.status == "ready":
        _columns_table(dataset)
        if not dataset.mapping_confirmed:
            console.print(f"confirm the mapping: automl datasets columns {dataset.id} --confirm [--set COLUMN=TYPE]")


def _columns_table(dataset: dataset_schemas.Dataset) -> None:
    table = Table(title=f"columns of {dataset.name} ({'confirmed' if dataset.mapping_confirmed else 'inferred'})")
    for name in ("column", "type", "inferred", "distinct", "empty", "samples"):
        table.add_column(name, overflow="fold")
    for column in dataset.columns:
        distinct = f"{column.distinct_count}{'+' if column.distinct_capped else ''}"
        samples = ", ".join(str(sample)[:40] for sample in column.samples[:3])
        table.add_row(column.name, column.type, column.inferred_type, distinct, str(column.empty_count), samples)
    console.print(table)


@datasets.command("columns")
@handled
def datasets_columns(
    dataset_id: str,
    set_types: Annotated[
        list[str] | None, typer.Option("--set", help="COLUMN=TYPE (text, image, json, label, number, ignore)")
    ] = None,
    confirm: Annotated[bool, typer.Option("--confirm", help="confirm the mapping (with any --set changes)")] = False,
    as_json: Json = False,
) -> None:
    """Show the column mapping (inferred type, distinct count, samples); change types and confirm it."""
    dataset_id = resolve("dataset", dataset_id)
    dataset = client().datasets.get(dataset_id)
    changes: dict[str, str] = {}
    for pair in set_types or []:
        column, sep, kind = pair.partition("=")
        if not sep:
            raise typer.BadParameter(f"{pair!r}: expected COLUMN=TYPE", param_hint="--set")
        changes[column] = kind
    if changes or confirm:
        mapping = {column.name: column.type for column in dataset.columns} | changes
        dataset = client().datasets.set_columns(dataset_id, mapping)
    if as_json:
        emit_json(dataset.columns if not (changes or confirm) else dataset)
        return
    _columns_table(dataset)


@datasets.command("rows")
@handled
def datasets_rows(
    dataset_id: str,
    status: Annotated[str | None, typer.Option(help="ok, invalid or image_failed")] = None,
    start: Annotated[int | None, typer.Option(help="from this row index")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="rows to show")] = 20,
    as_json: Json = False,
    quiet: Quiet = False,
) -> None:
    """Preview rows (filtered by status, from an index)."""
    dataset_id = resolve("dataset", dataset_id)
    rows = []
    for row in client().datasets.rows(dataset_id, status=status, start=start, limit=min(limit, 500)):
        rows.append(row)
        if len(rows) >= limit:
            break
    listing(
        rows,
        [
            ("id", lambda r: r.id),
            ("index", lambda r: r.index),
            ("status", lambda r: r.status),
            ("values", lambda r: r.values),
            ("errors", lambda r: r.errors),
        ],
        as_json,
        "rows",
        quiet=quiet,
    )


@datasets.command("delete")
@handled
def datasets_delete(dataset_id: str, yes: Yes = False, as_json: Json = False) -> None:
    """Delete the dataset (asks first; --yes does not)."""
    dataset_id = resolve("dataset", dataset_id)
    confirm(f"Delete dataset {dataset_id}", yes)
    client().datasets.delete(dataset_id)
    emit_json({"deleted": dataset_id}) if as_json else console.print(f"deleted {dataset_id}")


@snapshots.command("list")
@handled
def snapshots_list(as_json: Json = False, quiet: Quiet = False) -> None:
    listing(
        client().snapshots.list(),
        [
            ("id", lambda s: s.id),
            ("name", lambda s: s.name),
            ("type", lambda s: s.type),
            ("status", lambda s: s.status),
            ("rows", lambda s: s.row_count),
            ("invalid", lambda s: s.invalid_row_count),
            ("heads", lambda s: ", ".join(head.name for head in s.heads)),
        ],
        as_json,
        "snapshots",
        quiet=quiet,
    )


@snapshots.command("get")
@handled
def snapshots_get(snapshot_id: str, as_json: Json = False, quiet: Quiet = False) -> None:
    snapshot_id = resolve("snapshot", snapshot_id)
    show(client().snapshots.get(snapshot_id), as_json, quiet=quiet)


@snapshots.command("create")
@handled
def snapshots_create(
    dataset: Annotated[str, typer.Option("--dataset", help="the dataset's id")],
    name: Annotated[str, typer.Option("--name")],
    snapshot_type: Annotated[str, typer.Option("--type", help=", ".join(model_types.NAMES))] = model_types.NAMES[0],
    input_column: Annotated[str | None, typer.Option("--input-column")] = None,
    head: Annotated[list[str] | None, typer.Option("--head", help="a label column (repeat for several heads)")] = None,
    prompt_column: Annotated[str | None, typer.Option("--prompt-column")] = None,
    completion_column: Annotated[str | None, typer.Option("--completion-column")] = None,
    messages_column: Annotated[str | None, typer.Option("--messages-column")] = None,
    max_invalid_pct: Annotated[float, typer.Option("--max-invalid-pct")] = 10.0,
    wait: Annotated[bool, typer.Option("--wait/--no-wait")] = True,
    as_json: Json = False,
    quiet: Quiet = False,
) -> None:
    """Freeze a dataset into a validated snapshot."""
    fields = {
        "dataset_id": dataset,
        "name": name,
        "type": snapshot_type,
        "input_column": input_column,
        "prompt_column": prompt_column,
        "completion_column": completion_column,
        "messages_column": messages_column,
        "heads": [{"column": column} for column in head or []],
        "max_invalid_row_pct": max_invalid_pct,
    }
    snapshot = client().snapshots.create(**{key: value for key, value in fields.items() if value is not None})
    if wait:
        snapshot = client().snapshots.wait(snapshot.id)
    show(snapshot, as_json, quiet=quiet)


@snapshots.command("invalid-rows")
@handled
def snapshots_invalid_rows(snapshot_id: str, as_json: Json = False, quiet: Quiet = False) -> None:
    snapshot_id = resolve("snapshot", snapshot_id)
    listing(
        client().snapshots.invalid_rows(snapshot_id),
        [("row", lambda r: r.row_id), ("index", lambda r: r.index), ("reasons", lambda r: ", ".join(r.reasons))],
        as_json,
        "rows left out",
        quiet=quiet,
    )


@snapshots.command("delete")
@handled
def snapshots_delete(snapshot_id: str, yes: Yes = False, as_json: Json = False) -> None:
    """Delete the snapshot (asks first; --yes does not)."""
    snapshot_id = resolve("snapshot", snapshot_id)
    confirm(f"Delete snapshot {snapshot_id}", yes)
    client().snapshots.delete(snapshot_id)
    emit_json({"deleted": snapshot_id}) if as_json else console.print(f"deleted {snapshot_id}")


@base_models.command("list")
@handled
def base_models_list(as_json: Json = False, quiet: Quiet = False) -> None:
    listing(
        client().base_models.list(),
        [
            ("id", lambda b: b.id),
            ("name", lambda b: b.name),
            ("type", lambda b: b.model_type),
            ("methods", lambda b: ", ".join(b.methods)),
            ("status", lambda b: b.status),
        ],
        as_json,
        "base models",
        quiet=quiet,
    )


@base_models.command("get")
@handled
def base_models_get(base_model_id: str, as_json: Json = False, quiet: Quiet = False) -> None:
    show(client().base_models.get(base_model_id), as_json, quiet=quiet)
