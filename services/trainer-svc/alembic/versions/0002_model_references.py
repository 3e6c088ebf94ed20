"""model references (deployments that serve a model)

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 11:05:00.000000
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
        "model_references",
        sa.Column("model_id", sa.String(length=40), nullable=False),
        sa.Column("deployment_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name=op.f("fk_model_references_model_id_models"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("model_id", "deployment_id", name=op.f("pk_model_references")),
    )


def downgrade() -> None:
    op.drop_table("model_references")
