"""console sessions signed out of (refused until they would have expired)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 21:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from automl_common.db.base import UTCDateTime

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "console_sessions_ended",
        sa.Column("session_id", sa.String(64), primary_key=True),
        sa.Column("until", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_console_sessions_ended_until", "console_sessions_ended", ["until"])


def downgrade() -> None:
    op.drop_index("ix_console_sessions_ended_until", table_name="console_sessions_ended")
    op.drop_table("console_sessions_ended")
