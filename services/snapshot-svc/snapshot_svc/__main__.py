"""`python -m snapshot_svc`: run snapshot-svc with uvicorn."""

from automl_common.serve import serve
from snapshot_svc.app import create_app
from snapshot_svc.settings import SnapshotSettings


def main() -> None:
    settings = SnapshotSettings()
    serve(create_app(settings), settings)


if __name__ == "__main__":
    main()
