"""topics: subscribers' topic choices, an issue's variants, and which variant each delivery got

Adds a column with a default to subscriber, a nullable column to delivery and one table, and drops
delivery's foreign keys (see below). A send running on the previous version keeps working: its
deliveries have no variant and get the issue's own email, as before.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import digest.db.types

# delivery's foreign keys go: PostgreSQL checks them row by row, which doubled the time to write a send's
# audience (a million rows). PostgreSQL named them itself; SQLite's are unnamed and named here to drop.
DELIVERY_KEYS = (("issue_id", "issue"), ("subscriber_id", "subscriber"))
NAMING = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}


def foreign_key_name(column: str, table: str) -> str:
    if op.get_bind().dialect.name == "postgresql":
        return f"delivery_{column}_fkey"
    return f"fk_delivery_{column}_{table}"


revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "issuevariant",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("issue_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("summaries", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("choices", sa.JSON(), nullable=False),
        sa.Column("subscribers", sa.Integer(), nullable=False),
        sa.Column("subject", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("preheader", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", digest.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["issue_id"], ["issue.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("issue_id", "position"),
        sa.UniqueConstraint("issue_id", "summaries"),
    )
    with op.batch_alter_table("subscriber", schema=None) as batch_op:
        batch_op.add_column(sa.Column("topics", sa.Text(), server_default="[]", nullable=False))
        batch_op.create_index(batch_op.f("ix_subscriber_topics"), ["topics"], unique=False)
    with op.batch_alter_table("delivery", schema=None, naming_convention=NAMING) as batch_op:
        batch_op.add_column(sa.Column("variant_id", sa.Integer(), nullable=True))
        for column, table in DELIVERY_KEYS:
            batch_op.drop_constraint(foreign_key_name(column, table), type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("delivery", schema=None, naming_convention=NAMING) as batch_op:
        for column, table in DELIVERY_KEYS:
            ondelete = "CASCADE" if table == "issue" else None
            batch_op.create_foreign_key(
                foreign_key_name(column, table), table, [column], ["id"], ondelete=ondelete
            )
        batch_op.drop_column("variant_id")
    with op.batch_alter_table("subscriber", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subscriber_topics"))
        batch_op.drop_column("topics")
    op.drop_table("issuevariant")
