"""The snapshot-svc app factory."""

from pathlib import Path

from fastapi import FastAPI

from automl_common.app import ServiceSpec, create_service_app
from automl_common.storage import ObjectStore
from snapshot_svc.db import VERSION_TABLE
from snapshot_svc.settings import SnapshotSettings

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "alembic"


def create_app(settings: SnapshotSettings | None = None, *, store: ObjectStore | None = None) -> FastAPI:
    spec = ServiceSpec(title="AutoML snapshot-svc", migrations_dir=MIGRATIONS_DIR, version_table=VERSION_TABLE)
    return create_service_app(spec, settings or SnapshotSettings(), store=store)
