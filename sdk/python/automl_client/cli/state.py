"""What every command shares: the client built from the root options, the ``--json`` flag, and the wrapper
that turns the SDK's exceptions into a message and an exit code."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, ParamSpec, TypeVar

import pydantic
import typer

from automl_client import errors
from automl_client._sync.client import Client
from automl_client.cli.output import fail

P = ParamSpec("P")
R = TypeVar("R")

Json = Annotated[bool, typer.Option("--json", help="print JSON for scripts instead of tables")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="print only the ids, one a line (for scripts)")]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="do it without asking")]

# What a command may be given instead of an id: a name, for these kinds (their ids start with the prefix).
KINDS: dict[str, tuple[str, str]] = {
    "dataset": ("ds_", "datasets"),
    "snapshot": ("snap_", "snapshots"),
    "model": ("model_", "models"),
    "deployment": ("dep_", "deployments"),
}


@dataclass
class Settings:
    url: str | None = None
    api_key: str | None = None
    profile: str | None = None
    _client: Client | None = field(default=None, repr=False)

    def client(self) -> Client:
        if self._client is None:
            self._client = Client(self.url, self.api_key, profile=self.profile)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


SETTINGS = Settings()


def client() -> Client:
    return SETTINGS.client()


def handled(command: Callable[P, R]) -> Callable[P, R]:
    """Errors of the SDK end the command with their exit code (``--json``: as a JSON object on stdout)."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except errors.AutoMLClientError as error:
            fail(error, bool(kwargs.get("as_json", False)))
        except pydantic.ValidationError as error:  # checked here before sending, with the API's own contracts
            problems = "; ".join(
                f"{'.'.join(str(part) for part in item['loc']) or 'request'}: {item['msg']}" for item in error.errors()
            )
            fail(errors.InvalidArguments(problems), bool(kwargs.get("as_json", False)))

    return run


def parse_pairs(pairs: list[str] | None, what: str) -> dict[str, Any]:
    """``key=value`` options; a value that reads as JSON (a number, true, a list) is taken as such."""
    import json

    parsed: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{pair!r}: expected KEY=VALUE", param_hint=what)
        try:
            parsed[key] = json.loads(value)
        except ValueError:
            parsed[key] = value
    return parsed


def resolve(kind: str, ref: str) -> str:
    """An id, from an id or a name: a name must be the name of exactly one resource of ``kind`` in the org."""
    prefix, plural = KINDS[kind]
    if ref.startswith(prefix):
        return ref
    found = [item.id for item in getattr(client(), plural).list() if item.name == ref]
    if len(found) == 1:
        return str(found[0])
    if not found:
        raise errors.NameNotFound(
            f"no {kind} is named {ref!r} (nor is it a {kind} id, which starts with {prefix!r}); "
            f"`automl {plural} list` shows them"
        )
    raise errors.InvalidArguments(f"{len(found)} {plural} are named {ref!r} ({', '.join(found)}): give the id")


def confirm(action: str, yes: bool) -> None:
    """Ask before what cannot be undone (``--yes`` skips it); no answer, or no, aborts with nothing done."""
    if not yes and not typer.confirm(f"{action}?", default=False, err=True):
        raise typer.Abort()
