"""Live views: a training run (epoch, step, loss, validation metric, examples per second, ETA) and an
upload's progress bar. On a terminal they redraw in place; piped, they print a line per change."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from rich.live import Live
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn
from rich.table import Table

from automl_client._base import ProgressCallback
from automl_client.cli.output import console, err_console, plain
from automl_proto import models


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def _number(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}g}"


def _rate(value: float | None) -> str:
    return "-" if value is None else (f"{value:,.0f}" if value >= 100 else f"{value:.3g}")


def training_line(model: models.Model) -> str:
    progress = model.progress
    steps = f"{progress.step}/{progress.total_steps}" if progress.total_steps else str(progress.step)
    parts = [
        f"{model.status}",
        f"epoch {progress.epoch:.2f}",
        f"step {steps}",
        f"loss {_number(progress.loss)}",
        f"val {_number(progress.validation_metric)}",
        f"{_rate(progress.examples_per_s)} ex/s",
        f"ETA {_duration(progress.eta_s)}",
    ]
    if progress.waiting:
        parts.append(f"waiting: {progress.waiting}")
    return " | ".join(parts)


def training_table(model: models.Model) -> Table:
    progress = model.progress
    table = Table(title=f"model {model.id} ({model.name})", show_header=True)
    for name in ("status", "epoch", "step", "loss", "validation", "examples/s", "ETA"):
        table.add_column(name)
    steps = f"{progress.step}/{progress.total_steps}" if progress.total_steps else str(progress.step)
    table.add_row(
        model.status,
        f"{progress.epoch:.2f}",
        steps,
        _number(progress.loss),
        _number(progress.validation_metric),
        _rate(progress.examples_per_s),
        _duration(progress.eta_s),
    )
    if model.error:
        table.caption = f"[red]{model.error}[/]"
    return table


def follow_training(states: Iterator[models.Model], as_json: bool) -> models.Model | None:
    """Shows each state the run passes through; the last one."""
    last: models.Model | None = None
    if as_json:  # one JSON object a line, for scripts that follow along
        for state in states:
            console.file.write(json.dumps(plain(state.progress) | {"status": state.status}) + "\n")
            last = state
        return last
    if not console.is_terminal:
        for state in states:
            console.print(training_line(state))
            last = state
        return last
    with Live(console=console, refresh_per_second=4) as live:
        for state in states:
            live.update(training_table(state))
            last = state
    return last


class UploadBar:
    """A transfer bar fed by the SDK's ``on_progress(sent, total)``."""

    def __init__(self, label: str, quiet: bool) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=err_console,
            disable=quiet,
        )
        self._task = self._progress.add_task(label, total=None)
        self.calls = 0

    def __enter__(self) -> ProgressCallback:
        self._progress.start()
        return self.update

    def __exit__(self, *exc: Any) -> None:
        self._progress.stop()

    def update(self, sent: int, total: int | None) -> None:
        self.calls += 1
        self._progress.update(self._task, completed=sent, total=total)
