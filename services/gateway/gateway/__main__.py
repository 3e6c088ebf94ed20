"""`python -m gateway`: run gateway with uvicorn."""

from automl_common.serve import serve
from gateway.app import create_app
from gateway.settings import GatewaySettings


def main() -> None:
    settings = GatewaySettings()
    serve(create_app(settings), settings)


if __name__ == "__main__":
    main()
