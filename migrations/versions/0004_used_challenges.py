"""used proof-of-work challenges (ALTCHA), kept until they expire

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import digest.db.types

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "usedchallenge",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("signature", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("expires_at", digest.db.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("signature"),
    )
    with op.batch_alter_table("usedchallenge", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_usedchallenge_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("usedchallenge", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_usedchallenge_expires_at"))
    op.drop_table("usedchallenge")
