"""editors: the audit trail of who did what to an issue, and when

Adds one table; nothing existing changes, so the running version keeps working while it is applied.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import digest.db.types

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "editorialaction",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("issue_number", sa.Integer(), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("at", digest.db.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("editorialaction", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_editorialaction_issue_number"), ["issue_number"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("editorialaction", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_editorialaction_issue_number"))
    op.drop_table("editorialaction")
