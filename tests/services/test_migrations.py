"""Every service's migrations upgrade an empty database to head and downgrade it back to base."""

from __future__ import annotations

import importlib

import pytest
from sqlalchemy import inspect

from automl_common.db import create_engine, migrations

SERVICES = {
    "gateway": {"orgs", "api_keys", "playground_usage", "daily_usage", "idempotency_records"},
    "dataset_svc": {"datasets", "dataset_columns", "dataset_rows", "image_assets", "dataset_references"},
    "snapshot_svc": {"snapshots", "snapshot_invalid_rows", "snapshot_references", "splits"},
    "trainer_svc": {"base_models", "models", "model_events", "model_references"},
    "inference_svc": {"deployments", "tasks", "batch_predictions"},
}


async def table_names(engine) -> set[str]:
    async with engine.connect() as connection:
        return set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))


@pytest.mark.parametrize("package", sorted(SERVICES))
async def test_upgrade_to_head_and_downgrade_to_base(package, database_url):
    app_module = importlib.import_module(f"{package}.app")
    db_module = importlib.import_module(f"{package}.db")
    engine = create_engine(database_url)
    try:
        await migrations.upgrade(engine, app_module.MIGRATIONS_DIR, db_module.VERSION_TABLE)
        tables = await table_names(engine)
        assert tables == SERVICES[package] | {db_module.VERSION_TABLE}
        # The tables the migrations made are the ones the models declare.
        assert set(db_module.Base.metadata.tables) == SERVICES[package]

        await migrations.upgrade(engine, app_module.MIGRATIONS_DIR, db_module.VERSION_TABLE)  # idempotent
        await migrations.downgrade(engine, app_module.MIGRATIONS_DIR, db_module.VERSION_TABLE)
        assert await table_names(engine) == {db_module.VERSION_TABLE}
    finally:
        await engine.dispose()


async def test_services_share_one_database_without_touching_each_other(database_url):
    engine = create_engine(database_url)
    try:
        for package in SERVICES:
            app_module = importlib.import_module(f"{package}.app")
            db_module = importlib.import_module(f"{package}.db")
            await migrations.upgrade(engine, app_module.MIGRATIONS_DIR, db_module.VERSION_TABLE)
        gateway_app = importlib.import_module("gateway.app")
        gateway_db = importlib.import_module("gateway.db")
        await migrations.downgrade(engine, gateway_app.MIGRATIONS_DIR, gateway_db.VERSION_TABLE)
        remaining = await table_names(engine)
        assert "orgs" not in remaining
        assert {"alembic_version_dataset", "alembic_version_trainer"} <= remaining
    finally:
        await engine.dispose()
