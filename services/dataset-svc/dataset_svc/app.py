"""The dataset-svc app factory."""

from pathlib import Path

from fastapi import FastAPI

from automl_common.app import ServiceSpec, create_service_app
from automl_common.storage import ObjectStore
from dataset_svc.db import VERSION_TABLE
from dataset_svc.settings import DatasetSettings

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "alembic"


def create_app(settings: DatasetSettings | None = None, *, store: ObjectStore | None = None) -> FastAPI:
    spec = ServiceSpec(title="AutoML dataset-svc", migrations_dir=MIGRATIONS_DIR, version_table=VERSION_TABLE)
    return create_service_app(spec, settings or DatasetSettings(), store=store)
