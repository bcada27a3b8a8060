"""the scheduler's records: the last run of each job, and one heartbeat per scheduler process

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import digest.db.types

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "jobrun",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("started_at", digest.db.types.UTCDateTime(), nullable=False),
        sa.Column("finished_at", digest.db.types.UTCDateTime(), nullable=True),
        sa.Column("succeeded_at", digest.db.types.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "schedulerheartbeat",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("holder", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("every_seconds", sa.Float(), nullable=False),
        sa.Column("started_at", digest.db.types.UTCDateTime(), nullable=False),
        sa.Column("beat_at", digest.db.types.UTCDateTime(), nullable=False),
        sa.Column("next_runs", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("holder"),
    )


def downgrade() -> None:
    op.drop_table("schedulerheartbeat")
    op.drop_table("jobrun")
