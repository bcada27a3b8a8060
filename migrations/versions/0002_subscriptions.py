"""subscriptions: confirmation and notice times, erasure, hashed suppression list

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import digest.db.types

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("subscriber", schema=None) as batch_op:
        batch_op.add_column(sa.Column("confirmation_sent_at", digest.db.types.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("notice_sent_at", digest.db.types.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("erased_at", digest.db.types.UTCDateTime(), nullable=True))
    op.create_table(
        "suppression",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("created_at", digest.db.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email_hash"),
    )


def downgrade() -> None:
    op.drop_table("suppression")
    with op.batch_alter_table("subscriber", schema=None) as batch_op:
        batch_op.drop_column("erased_at")
        batch_op.drop_column("notice_sent_at")
        batch_op.drop_column("confirmation_sent_at")
