"""deployments of LoRA llm models served from one shared replica per org and base model

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05 00:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deployments") as batch:
        batch.add_column(sa.Column("share_base", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("serve_app", sa.String(length=100), nullable=True))
        batch.create_index(batch.f("ix_deployments_serve_app"), ["serve_app"])


def downgrade() -> None:
    with op.batch_alter_table("deployments") as batch:
        batch.drop_index(batch.f("ix_deployments_serve_app"))
        batch.drop_column("serve_app")
        batch.drop_column("share_base")
