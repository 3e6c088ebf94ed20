"""an llm's tokens per day, org, deployment and key, counted where they are generated; the key of a task

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 23:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "daily_tokens",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("deployment_id", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=40), nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger(), nullable=False),
        sa.Column("completion_tokens", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "org_id", "deployment_id", "key_id", name=op.f("pk_daily_tokens")),
    )
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("key_id", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("key_id")
    op.drop_table("daily_tokens")
