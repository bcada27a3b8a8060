"""feed sources and provider events: what each source's last read said, the webhook's events, and what
the provider last said about each delivery

Adds tables and two nullable columns (no default, so PostgreSQL rewrites nothing): the running version
keeps working while it is applied.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import digest.db.types

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sourcestate",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("etag", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("last_modified", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("checked_at", digest.db.types.UTCDateTime(), nullable=False),
        sa.Column("succeeded_at", digest.db.types.UTCDateTime(), nullable=True),
        sa.Column("failing_since", digest.db.types.UTCDateTime(), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("report", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "providerevent",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider_event_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("event", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("bounce_type", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column("email_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=True),
        sa.Column("delivery_id", sa.Integer(), nullable=True),
        sa.Column("issue_number", sa.Integer(), nullable=True),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("occurred_at", digest.db.types.UTCDateTime(), nullable=False),
        sa.Column("received_at", digest.db.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("provider_event_id"),
    )
    with op.batch_alter_table("providerevent", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_providerevent_email_hash"), ["email_hash"], unique=False)
        batch_op.create_index(batch_op.f("ix_providerevent_issue_number"), ["issue_number"], unique=False)
        batch_op.create_index(batch_op.f("ix_providerevent_subscriber_id"), ["subscriber_id"], unique=False)
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("provider_status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True)
        )
        batch_op.add_column(sa.Column("provider_event_at", digest.db.types.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_column("provider_event_at")
        batch_op.drop_column("provider_status")
    with op.batch_alter_table("providerevent", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_providerevent_subscriber_id"))
        batch_op.drop_index(batch_op.f("ix_providerevent_issue_number"))
        batch_op.drop_index(batch_op.f("ix_providerevent_email_hash"))
    op.drop_table("providerevent")
    op.drop_table("sourcestate")
