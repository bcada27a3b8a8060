"""subscriber.unsubscribe_recorded: their leaving is counted by the issue their link named; engagement
actions up to 20 characters ("unsubscribe")

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "subscriber",
        sa.Column("unsubscribe_recorded", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    action_length(20)


def action_length(length: int) -> None:
    with op.batch_alter_table("engagement") as batch:
        batch.alter_column(
            "action", type_=sqlmodel.sql.sqltypes.AutoString(length=length), existing_nullable=False
        )


def downgrade() -> None:
    op.execute("DELETE FROM engagement WHERE action = 'unsubscribe'")  # too long for the old column
    action_length(10)
    with op.batch_alter_table("subscriber") as batch:
        batch.drop_column("unsubscribe_recorded")
