"""Async SQLAlchemy: engines, the session dependency, model base pieces, repositories, migrations."""

from automl_common.db.base import NAMING_CONVENTION, JSONType, TimestampMixin, utcnow
from automl_common.db.engine import Database, after_commit, create_engine, release
from automl_common.db.locks import lock_org
from automl_common.db.repository import Repository
from automl_common.db.upsert import upsert_insert

__all__ = [
    "NAMING_CONVENTION",
    "Database",
    "JSONType",
    "Repository",
    "TimestampMixin",
    "after_commit",
    "create_engine",
    "lock_org",
    "release",
    "upsert_insert",
    "utcnow",
]
