"""The ``automl`` command: the SDK in a terminal. ``automl --help`` lists the commands, ``--json`` on any
command prints JSON for scripts, and the exit code says what failed (see ``automl --help``)."""

from __future__ import annotations

from typing import Annotated

import typer

from automl_client.cli import access, data, serving, training
from automl_client.cli.output import EXIT_CODES_HELP
from automl_client.cli.state import SETTINGS, handled

app = typer.Typer(
    name="automl",
    help="The AutoML platform from a terminal: datasets, snapshots, models, playground, deployments.",
    epilog=EXIT_CODES_HELP,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def configure(
    ctx: typer.Context,
    url: Annotated[str | None, typer.Option("--url", envvar="AUTOML_URL", help="the gateway's URL")] = None,
    api_key: Annotated[
        str | None, typer.Option("--api-key", envvar="AUTOML_API_KEY", help="an API key", show_envvar=True)
    ] = None,
    profile: Annotated[
        str | None, typer.Option("--profile", envvar="AUTOML_PROFILE", help="a profile of ~/.config/automl/config.toml")
    ] = None,
) -> None:
    SETTINGS.close()
    SETTINGS.url, SETTINGS.api_key, SETTINGS.profile = url, api_key, profile
    ctx.call_on_close(SETTINGS.close)


app.add_typer(data.datasets, name="datasets")
app.add_typer(data.snapshots, name="snapshots")
app.add_typer(data.base_models, name="base-models")
app.add_typer(training.models, name="models")
app.add_typer(serving.deployments, name="deployments")
app.add_typer(serving.batch_predictions, name="batch-predictions")
app.add_typer(serving.tasks, name="tasks")
app.add_typer(access.keys, name="keys")
app.add_typer(access.orgs, name="orgs")
app.command("playground")(handled(serving.playground))
app.command("deploy")(handled(serving.deploy))
app.command("predict")(handled(serving.predict))
app.command("batch-predict")(handled(serving.batch_predict))
app.command("usage")(handled(serving.usage))
app.command("chat")(handled(serving.chat))


def main() -> None:
    app()
