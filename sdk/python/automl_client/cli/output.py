"""How the CLI prints: Rich tables and panels for people, JSON for scripts (``--json``), and the exit code
that says what failed."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NoReturn

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from automl_client import errors

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

# Exit codes: 2 is a usage error (Typer's own).
EXIT_OK = 0
EXIT_API = 1  # any other error answer
EXIT_CONFIG = 3  # no key, no URL, a broken profile
EXIT_AUTH = 4  # 401, 403
EXIT_NOT_FOUND = 5  # 404
EXIT_INVALID = 6  # 400, 409, 413, 415, 422: the request cannot succeed as it is
EXIT_LIMITED = 7  # 429: rate limit, quota (after the retries)
EXIT_UNAVAILABLE = 8  # 5xx or no connection (after the retries)
EXIT_FAILED = 9  # what was waited for failed or was cancelled
EXIT_TIMEOUT = 10  # a wait ran out of time
EXIT_CODES_HELP = (
    "Exit codes: 0 done; 1 other API error; 2 usage; 3 configuration (no key or URL); 4 unauthorized or "
    "forbidden; 5 not found; 6 invalid request or conflict; 7 rate limited or quota used up; 8 platform "
    "unavailable; 9 the resource waited for failed; 10 a wait timed out."
)


def exit_code(error: Exception) -> int:
    if isinstance(error, errors.ConfigurationError):
        return EXIT_CONFIG
    if isinstance(error, (errors.Unauthorized, errors.Forbidden)):
        return EXIT_AUTH
    if isinstance(error, (errors.NotFound, errors.NameNotFound)):
        return EXIT_NOT_FOUND
    if isinstance(error, errors.RateLimited):
        return EXIT_LIMITED
    if isinstance(error, errors.ConnectionFailed) or (isinstance(error, errors.APIError) and error.status >= 500):
        return EXIT_UNAVAILABLE
    if isinstance(error, errors.InvalidArguments) or (
        isinstance(error, errors.APIError) and error.status in (400, 409, 413, 415, 422)
    ):
        return EXIT_INVALID
    if isinstance(error, errors.ResourceFailed):
        return EXIT_FAILED
    if isinstance(error, errors.WaitTimeout):
        return EXIT_TIMEOUT
    return EXIT_API


def fail(error: Exception, as_json: bool) -> NoReturn:
    code = exit_code(error)
    if as_json:
        body: dict[str, Any] = {"error": type(error).__name__, "detail": str(error), "exit_code": code}
        if isinstance(error, errors.APIError):
            body |= {
                "error": error.error,
                "detail": error.detail,
                "request_id": error.request_id,
                "status": error.status,
            }
        sys.stdout.write(json.dumps(body) + "\n")
    else:
        message = cli_hints(error.detail if isinstance(error, errors.APIError) else str(error))
        label = error.error if isinstance(error, errors.APIError) else type(error).__name__
        # What the API says is shown as it is: a pattern like ``^[a-z]{1,12}_`` is not Rich markup.
        err_console.print(f"[bold red]{escape(label)}[/]: {escape(message)}")
        if isinstance(error, errors.APIError) and error.request_id:
            err_console.print(f"[dim]request id {escape(error.request_id)}[/]")
    raise typer.Exit(code)


_LISTED = re.compile(r"GET /v1/([a-z-]+)\b(?![/{])")


def cli_hints(message: str) -> str:
    """An API message's hint in the terms of this command: "GET /v1/base-models lists them" becomes
    "`automl base-models list` lists them" (the API's own words stay in --json)."""
    return _LISTED.sub(lambda match: f"`automl {match.group(1)} list`", message)


def plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    return value


def emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(plain(value), indent=2, default=str) + "\n")


def show(value: Any, as_json: bool, title: str | None = None, *, quiet: bool = False) -> None:
    """One resource: JSON, its id alone (``quiet``, for scripts), or its fields for people."""
    if quiet and getattr(value, "id", None) is not None:
        sys.stdout.write(f"{value.id}\n")
        return
    if as_json:
        emit_json(value)
        return
    data = plain(value)
    table = Table(title=title, show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold cyan")
    table.add_column(overflow="fold")
    for key, item in data.items():
        table.add_row(key, cell(item))
    console.print(table)


def cell(value: Any) -> Text:
    """A table cell, as plain text (a name or class like ``[draft]`` is not Rich markup)."""
    if value is None:
        return Text("-")
    if isinstance(value, float):
        return Text(f"{value:.4g}")
    if isinstance(value, (dict, list)):
        text = json.dumps(value, default=str)
        return Text(text if len(text) <= 200 else text[:197] + "...")
    return Text(str(value))


def listing(
    items: Iterable[Any],
    columns: Sequence[tuple[str, Callable[[Any], Any]]],
    as_json: bool,
    title: str,
    *,
    quiet: bool = False,
) -> None:
    """Rows as a table; JSON; or (``quiet``) the ids alone, one a line. In a narrow terminal the ids and names
    stay whole on one line (they are what a person copies): the other columns wrap or are left out."""
    rows = list(items)
    if quiet:
        sys.stdout.write("".join(f"{getattr(row, 'id', row)}\n" for row in rows))
        return
    if as_json:
        emit_json(rows)
        return
    cells = [[cell(get(row)) for _, get in columns] for row in rows]
    whole = {"id", "name", "class", "day"}
    widths = [max([len(name), *(len(line[i]) for line in cells)]) for i, (name, _) in enumerate(columns)]
    kept = list(range(len(columns)))
    # Leave out columns from the right while the whole ones and a little of each other would not fit.
    while len(kept) > 2 and sum(widths[i] if columns[i][0] in whole else 6 for i in kept) + 3 * len(kept) + 1 > (
        console.width
    ):
        dropped = next((i for i in reversed(kept) if columns[i][0] not in whole), None)
        if dropped is None:
            break
        kept.remove(dropped)
    left_out = [columns[i][0] for i in range(len(columns)) if i not in kept]
    caption = f"{', '.join(left_out)} left out at this width: --json has every field" if left_out else None
    table = Table(title=f"{title} ({len(rows)})", caption=caption)
    for i in kept:
        name = columns[i][0]
        if name in whole:
            table.add_column(name, no_wrap=True, min_width=widths[i])
        else:
            table.add_column(name, overflow="fold")
    for line in cells:
        table.add_row(*(line[i] for i in kept))
    console.print(table)
