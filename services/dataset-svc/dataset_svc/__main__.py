"""`python -m dataset_svc`: run dataset-svc with uvicorn."""

from automl_common.serve import serve
from dataset_svc.app import create_app
from dataset_svc.settings import DatasetSettings


def main() -> None:
    settings = DatasetSettings()
    serve(create_app(settings), settings)


if __name__ == "__main__":
    main()
