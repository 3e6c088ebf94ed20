"""`python -m inference_svc`: run inference-svc with uvicorn."""

from automl_common.serve import serve
from inference_svc.app import create_app
from inference_svc.settings import InferenceSettings


def main() -> None:
    settings = InferenceSettings()
    serve(create_app(settings), settings)


if __name__ == "__main__":
    main()
