"""The declarative base of dataset-svc's own tables."""

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from automl_common.db import NAMING_CONVENTION

VERSION_TABLE = "alembic_version_dataset"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
