"""Every service's migrations upgrade an empty database to head and downgrade it back to base."""

from __future__ import annotations

import asyncio
import importlib

import pytest
from sqlalchemy import inspect

from automl_common.db import create_engine, migrations

SERVICES = {
    "gateway": {"orgs", "api_keys", "playground_usage", "daily_usage", "idempotency_records", "console_sessions_ended"},
    "dataset_svc": {"datasets", "dataset_columns", "dataset_rows", "image_assets", "dataset_references"},
    "snapshot_svc": {"snapshots", "snapshot_invalid_rows", "snapshot_references", "splits"},
    "trainer_svc": {"base_models", "models", "model_events", "model_references"},
    "inference_svc": {"deployments", "tasks", "batch_predictions", "daily_tokens"},
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


@pytest.mark.parametrize("package", sorted(SERVICES))
async def test_the_migrate_command(package, tmp_path):
    """``python -m <service> migrate`` (the chart's hook Job) makes the service's tables and exits."""
    import os
    import subprocess
    import sys

    url = f"sqlite+aiosqlite:///{tmp_path / 'migrated.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOML_")}
    env |= {"AUTOML_DATA_DIR": str(tmp_path), "AUTOML_DATABASE_URL": url}
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", package, "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "tables at the newest revision" in done.stderr
    engine = create_engine(url)
    try:
        db_module = importlib.import_module(f"{package}.db")
        assert await table_names(engine) == SERVICES[package] | {db_module.VERSION_TABLE}
    finally:
        await engine.dispose()
    wrong = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", package, "migrat"], env=env, capture_output=True, text=True, check=False
    )
    assert wrong.returncode != 0 and "usage: python -m <service> [migrate]" in wrong.stderr
