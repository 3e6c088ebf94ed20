"""Operator commands: ``python -m gateway.cli create-org NAME`` and ``bootstrap`` (used by ``make up``)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

from pydantic import ValidationError

from automl_common.db import Database, migrations
from automl_common.errors import AutoMLError, Unauthorized
from automl_proto.orgs import OrgCreate
from gateway.app import MIGRATIONS_DIR
from gateway.auth import Authenticator
from gateway.db import VERSION_TABLE
from gateway.keys.service import issue_key
from gateway.orgs import service as orgs
from gateway.orgs.repository import OrgRepository
from gateway.settings import GatewaySettings


async def _database(settings: GatewaySettings) -> Database:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    database = Database.from_url(settings.resolved_database_url)
    await migrations.upgrade(database.engine, MIGRATIONS_DIR, VERSION_TABLE)
    return database


async def create_org(settings: GatewaySettings, name: str) -> dict[str, str]:
    database = await _database(settings)
    try:
        async with database.session() as session:
            created = await orgs.create_org(session, OrgCreate(name=name))
        return {"id": created.id, "name": created.name, "admin_key": created.admin_key}
    finally:
        await database.dispose()


async def bootstrap(settings: GatewaySettings, org_name: str, existing_key: str | None) -> dict[str, str]:
    """Make sure ``org_name`` exists and return a working admin key for it: ``existing_key`` if it still
    works, else a new one (idempotent: ``make up`` runs this every time)."""
    database = await _database(settings)
    try:
        if existing_key:
            try:
                principal = await Authenticator(database, ttl_s=0).authenticate(existing_key)
            except Unauthorized:
                principal = None
            if principal is not None and principal.scope == "admin":
                return {"org_id": principal.org_id, "admin_key": existing_key, "created": "false"}
        async with database.session() as session:
            row = await OrgRepository(session).get_by_name(org_name)
            if row is None:
                created = await orgs.create_org(session, OrgCreate(name=org_name))
                org_id, key = created.id, created.admin_key
            else:
                org_id, key = row.id, (await issue_key(session, row.id, "admin (bootstrap)", "admin")).key
        return {"org_id": org_id, "admin_key": key, "created": "true"}
    finally:
        await database.dispose()


def write_secret(path: Path, value: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway.cli", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-org", help="create an org and print its first admin key (JSON)")
    create.add_argument("name")
    boot = commands.add_parser("bootstrap", help="ensure a default org and an admin key file exist")
    boot.add_argument("--org", default="default")
    boot.add_argument("--key-file", type=Path, default=None)
    args = parser.parse_args(argv)
    settings = GatewaySettings()
    try:
        if args.command == "create-org":
            result = asyncio.run(create_org(settings, args.name))
        else:
            key_file = args.key_file or settings.data_dir / "admin.key"
            existing = key_file.read_text().strip() if key_file.exists() else None
            result = asyncio.run(bootstrap(settings, args.org, existing))
            if result["created"] == "true":
                write_secret(key_file, result["admin_key"])
    except (AutoMLError, ValidationError) as error:
        print(json.dumps({"error": type(error).__name__, "detail": str(error)}), file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
