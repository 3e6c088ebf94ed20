"""`python -m inference_svc`: run inference-svc with uvicorn; `python -m inference_svc migrate`: migrate, then exit."""

from automl_common.serve import main as run
from inference_svc.app import MIGRATIONS_DIR, create_app
from inference_svc.db import VERSION_TABLE
from inference_svc.settings import InferenceSettings


def main() -> None:
    run(InferenceSettings(), create_app, MIGRATIONS_DIR, VERSION_TABLE)


if __name__ == "__main__":
    main()
