"""a deployment's operating point: cut-offs per head and class for its predictions, versioned

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05 22:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from automl_common.db.base import UTCDateTime

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deployments") as batch:
        json_type = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
        batch.add_column(sa.Column("operating_point", json_type, nullable=True))
        batch.add_column(sa.Column("operating_point_version", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("operating_point_updated_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deployments") as batch:
        batch.drop_column("operating_point_updated_at")
        batch.drop_column("operating_point_version")
        batch.drop_column("operating_point")
