"""render markers: each stored render keeps the random key of its per-recipient markers

Renders stored before this held the fixed markers ``__DIGEST_UNSUBSCRIBE_URL__`` and
``__DIGEST_PREFERENCES_URL__``. Each row gets a key of its own, and only the markers the template placed
are rewritten to it: in the HTML a link's whole ``href="..."``, in the text the value ending a
``Label: marker`` line. A marker anywhere else came from outside (a summary or an editor's words written
before markers were cut on the way in) and is left as text, never to be filled.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""

import re
import secrets
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("issue", "issuevariant")
LEGACY = {"UNSUBSCRIBE": "__DIGEST_UNSUBSCRIBE_URL__", "PREFERENCES": "__DIGEST_PREFERENCES_URL__"}
IN_HTML = re.compile(r'(href=")__DIGEST_(UNSUBSCRIBE|PREFERENCES)_URL__(")')
IN_TEXT = re.compile(r"(?m)(: )__DIGEST_(UNSUBSCRIBE|PREFERENCES)_URL__()$")


def keyed(pattern: re.Pattern[str], document: str, key: str) -> str:
    return pattern.sub(lambda m: f"{m[1]}__DIGEST_{m[2]}_URL_{key}__{m[3]}", document)


def unkeyed(document: str, key: str) -> str:
    for name, marker in LEGACY.items():
        document = document.replace(f"__DIGEST_{name}_URL_{key}__", marker)
    return document


def upgrade() -> None:
    # Plain ADD and DROP COLUMN, never a batch copy: on SQLite, copying ``issue`` means dropping it, and
    # with foreign keys on that deletes every delivery and variant of every issue (ON DELETE CASCADE).
    for table in TABLES:
        column = sa.Column(
            "markers", sqlmodel.sql.sqltypes.AutoString(length=32), server_default="", nullable=False
        )
        op.add_column(table, column)
        rows = sa.table(table, sa.column("id"), sa.column("html"), sa.column("text"), sa.column("markers"))
        connection = op.get_bind()
        for row_id, html, text in connection.execute(sa.select(rows.c.id, rows.c.html, rows.c.text)).all():
            key = secrets.token_hex(16)
            connection.execute(
                rows.update()
                .where(rows.c.id == row_id)
                .values(html=keyed(IN_HTML, html, key), text=keyed(IN_TEXT, text, key), markers=key)
            )


def downgrade() -> None:
    for table in TABLES:
        rows = sa.table(table, sa.column("id"), sa.column("html"), sa.column("text"), sa.column("markers"))
        connection = op.get_bind()
        query = sa.select(rows.c.id, rows.c.html, rows.c.text, rows.c.markers)
        for row_id, html, text, key in connection.execute(query).all():
            connection.execute(
                rows.update()
                .where(rows.c.id == row_id)
                .values(html=unkeyed(html, key), text=unkeyed(text, key))
            )
        op.execute(f"ALTER TABLE {table} DROP COLUMN markers")
