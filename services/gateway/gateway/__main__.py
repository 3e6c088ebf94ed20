"""`python -m gateway`: run gateway with uvicorn; `python -m gateway migrate`: migrate, then exit."""

from automl_common.serve import main as run
from gateway.app import MIGRATIONS_DIR, create_app
from gateway.db import VERSION_TABLE
from gateway.settings import GatewaySettings


def main() -> None:
    run(GatewaySettings(), create_app, MIGRATIONS_DIR, VERSION_TABLE)


if __name__ == "__main__":
    main()
