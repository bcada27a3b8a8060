"""time zones and waves: a reader's time zone, an issue's scheduled time, a delivery's wave

Adds nullable columns only (subscriber.timezone, issue.send_at, delivery.not_before) and one table
(issuewave). Rows written before keep working: a reader without a zone gets DIGEST_TIMEZONE's, an issue
without a time goes when approved, a delivery without a wave may be claimed at once.

Plain ADD COLUMN, never a batch copy: on SQLite, copying ``issue`` drops it, and with foreign keys on
that deletes every delivery's variant and every wave (ON DELETE CASCADE); see 0012.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import digest.db.types

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "subscriber", sa.Column("timezone", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
    )
    op.add_column("issue", sa.Column("send_at", digest.db.types.UTCDateTime(), nullable=True))
    op.add_column("delivery", sa.Column("not_before", digest.db.types.UTCDateTime(), nullable=True))
    op.create_table(
        "issuewave",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("issue_id", sa.Integer(), nullable=False),
        sa.Column("zone", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("local_at", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("starts_at", digest.db.types.UTCDateTime(), nullable=False),
        sa.Column("readers", sa.Integer(), nullable=False),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.ForeignKeyConstraint(["issue_id"], ["issue.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("issue_id", "zone"),
    )


def downgrade() -> None:
    op.drop_table("issuewave")
    op.drop_column("delivery", "not_before")
    op.drop_column("issue", "send_at")
    op.drop_column("subscriber", "timezone")
