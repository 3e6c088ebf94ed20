"""`python -m trainer_svc`: run trainer-svc with uvicorn; `python -m trainer_svc migrate`: migrate, then exit."""

from automl_common.serve import main as run
from trainer_svc.app import MIGRATIONS_DIR, create_app
from trainer_svc.db import VERSION_TABLE
from trainer_svc.settings import TrainerSettings


def main() -> None:
    run(TrainerSettings(), create_app, MIGRATIONS_DIR, VERSION_TABLE)


if __name__ == "__main__":
    main()
