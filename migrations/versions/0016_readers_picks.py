"""issue.picks: the previous issue's most read summaries an issue shows (DIGEST_READERS_PICKS)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # JSON as text: PostgreSQL's json type has no equality, and issues are selected DISTINCT.
    op.add_column("issue", sa.Column("picks", sa.Text(), nullable=False, server_default="[]"))


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite 3.35 and later too): a batch copy of the issue table would drop it,
    # and with it, on SQLite, the variants whose foreign key cascades.
    op.drop_column("issue", "picks")
