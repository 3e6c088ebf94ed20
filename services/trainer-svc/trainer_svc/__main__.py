"""`python -m trainer_svc`: run trainer-svc with uvicorn."""

from automl_common.serve import serve
from trainer_svc.app import create_app
from trainer_svc.settings import TrainerSettings


def main() -> None:
    settings = TrainerSettings()
    serve(create_app(settings), settings)


if __name__ == "__main__":
    main()
