"""tokens generated and read per day, key and deployment (llm models)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 23:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("daily_usage") as batch:
        batch.add_column(sa.Column("prompt_tokens", sa.BigInteger(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("completion_tokens", sa.BigInteger(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("daily_usage") as batch:
        batch.drop_column("completion_tokens")
        batch.drop_column("prompt_tokens")
