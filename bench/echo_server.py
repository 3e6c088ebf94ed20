"""Serve the echo service (tests/support/echo.py) for the gateway benchmark: `python -m bench.echo_server`."""

from __future__ import annotations

from automl_common.serve import serve
from tests.support.echo import EchoSettings, create_echo_app


def main() -> None:
    settings = EchoSettings()
    serve(create_echo_app(settings), settings)


if __name__ == "__main__":
    main()
