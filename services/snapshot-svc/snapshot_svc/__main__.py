"""`python -m snapshot_svc`: run snapshot-svc with uvicorn; `python -m snapshot_svc migrate`: migrate, then exit."""

from automl_common.serve import main as run
from snapshot_svc.app import MIGRATIONS_DIR, create_app
from snapshot_svc.db import VERSION_TABLE
from snapshot_svc.settings import SnapshotSettings


def main() -> None:
    run(SnapshotSettings(), create_app, MIGRATIONS_DIR, VERSION_TABLE)


if __name__ == "__main__":
    main()
