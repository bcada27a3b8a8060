"""delivery: no index on the columns a send changes, half-free pages on PostgreSQL

Every delivery row is written three times in a send (created, claimed, recorded). With no index on
``status`` and room left in each page, PostgreSQL makes the two updates HOT: no index is touched.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_index("ix_delivery_issue_status_id")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE delivery SET (fillfactor = 50)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE delivery RESET (fillfactor)")
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.create_index("ix_delivery_issue_status_id", ["issue_id", "status", "id"], unique=False)
