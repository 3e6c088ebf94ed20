"""keys, orgs: who may call the API."""

from __future__ import annotations

from typing import Annotated

import typer

from automl_client.cli.output import console, emit_json, err_console, listing, show
from automl_client.cli.state import Json, Quiet, Yes, client, confirm, handled, resolve

keys = typer.Typer(help="API keys: admin keys, or keys scoped to one deployment.", no_args_is_help=True)
orgs = typer.Typer(help="The org of the key in use (and, with the operator key, new orgs).", no_args_is_help=True)


@keys.command("list")
@handled
def keys_list(as_json: Json = False, quiet: Quiet = False) -> None:
    listing(
        client().keys.list(),
        [
            ("id", lambda k: k.id),
            ("name", lambda k: k.name),
            ("scope", lambda k: k.scope),
            ("deployment", lambda k: k.deployment_id),
            ("prefix", lambda k: k.prefix),
            ("revoked", lambda k: k.revoked_at),
        ],
        as_json,
        "keys",
        quiet=quiet,
    )


@keys.command("get")
@handled
def keys_get(key_id: str, as_json: Json = False, quiet: Quiet = False) -> None:
    show(client().keys.get(key_id), as_json, quiet=quiet)


@keys.command("create")
@handled
def keys_create(
    name: str,
    deployment: Annotated[str | None, typer.Option("--deployment", help="scope the key to this deployment")] = None,
    as_json: Json = False,
) -> None:
    """A new key; its secret is shown this once."""
    deployment = deployment and resolve("deployment", deployment)
    scope = "deployment" if deployment else "admin"
    created = client().keys.create(name, scope=scope, deployment_id=deployment)
    if as_json:
        emit_json(created)
        return
    console.print(f"key {created.id} ({created.scope}): [bold]{created.key}[/]")
    err_console.print("[yellow]store it now: it is not shown again[/]")


@keys.command("revoke")
@handled
def keys_revoke(key_id: str, yes: Yes = False, as_json: Json = False, quiet: Quiet = False) -> None:
    """Revoke a key: every call with it is refused from now on (asks first; --yes does not)."""
    confirm(f"Revoke key {key_id}: whatever uses it stops working", yes)
    show(client().keys.revoke(key_id), as_json, quiet=quiet)


@orgs.command("me")
@handled
def orgs_me(as_json: Json = False, quiet: Quiet = False) -> None:
    show(client().orgs.me(), as_json, quiet=quiet)


@orgs.command("create")
@handled
def orgs_create(name: str, as_json: Json = False, quiet: Quiet = False) -> None:
    """With the operator key: a new org and its admin key (shown once)."""
    show(client().orgs.create(name), as_json, quiet=quiet)
