"""`python -m dataset_svc`: run dataset-svc with uvicorn; `python -m dataset_svc migrate`: migrate, then exit."""

from automl_common.serve import main as run
from dataset_svc.app import MIGRATIONS_DIR, create_app
from dataset_svc.db import VERSION_TABLE
from dataset_svc.settings import DatasetSettings


def main() -> None:
    run(DatasetSettings(), create_app, MIGRATIONS_DIR, VERSION_TABLE)


if __name__ == "__main__":
    main()
