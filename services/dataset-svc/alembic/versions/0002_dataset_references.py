"""dataset references (image snapshots that read a dataset's images)

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 11:35:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dataset_references",
        sa.Column("dataset_id", sa.String(length=40), nullable=False),
        sa.Column("snapshot_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"], ["datasets.id"], name=op.f("fk_dataset_references_dataset_id_datasets"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("dataset_id", "snapshot_id", name=op.f("pk_dataset_references")),
    )


def downgrade() -> None:
    op.drop_table("dataset_references")
