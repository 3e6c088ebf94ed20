"""The trainer-svc app factory."""

from pathlib import Path

from fastapi import FastAPI

from automl_common.app import ServiceSpec, create_service_app
from automl_common.storage import ObjectStore
from trainer_svc.db import VERSION_TABLE
from trainer_svc.settings import TrainerSettings

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "alembic"


def create_app(settings: TrainerSettings | None = None, *, store: ObjectStore | None = None) -> FastAPI:
    spec = ServiceSpec(title="AutoML trainer-svc", migrations_dir=MIGRATIONS_DIR, version_table=VERSION_TABLE)
    return create_service_app(spec, settings or TrainerSettings(), store=store)
