"""Migration 0013 (readers' zones, scheduled issues, waves) on a database that holds rows, both databases.

Every row written before it stays, with no zone (the publisher's), no scheduled time and no wave; a
downgrade drops the new columns and keeps the rows.
"""

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import Engine

from digest.db.engine import make_engine, upgrade
from tests.db.test_migrations import alembic_config

MOMENT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture
def at_0012(database_url: str) -> Iterator[Engine]:
    """A database at the schema before 0013 with a subscriber, a sent issue and its delivery."""
    engine = make_engine(database_url)
    command.upgrade(alembic_config(engine), "0012")
    rows = sa.MetaData()
    rows.reflect(engine, only=["issue", "subscriber", "delivery"])
    issue, subscriber, delivery = (rows.tables[name] for name in ("issue", "subscriber", "delivery"))
    with engine.begin() as connection:
        made = connection.execute(
            issue.insert().values(
                number=1, status="sent", window_start=MOMENT, window_end=MOMENT, subject="S", preheader="",
                note="", html="<p>", text="t", markers="k", created_at=MOMENT, updated_at=MOMENT,
            )
        )  # fmt: skip
        joined = connection.execute(
            subscriber.insert().values(
                email="ada@example.org", email_key="ada@example.org", state="active", token_nonce="n",
                created_at=MOMENT, updated_at=MOMENT, topics="[]",
            )
        )  # fmt: skip
        assert made.inserted_primary_key is not None
        assert joined.inserted_primary_key is not None
        issue_id, subscriber_id = made.inserted_primary_key[0], joined.inserted_primary_key[0]
        connection.execute(
            delivery.insert().values(
                issue_id=issue_id, subscriber_id=subscriber_id, status="sent", attempts=1,
                created_at=MOMENT, updated_at=MOMENT, sent_at=MOMENT,
            )
        )  # fmt: skip
    yield engine
    engine.dispose()


def test_rows_stay_without_zone_time_or_wave_and_come_back_down(at_0012: Engine) -> None:
    upgrade(at_0012)
    with at_0012.connect() as connection:
        assert connection.execute(sa.text("SELECT email, timezone FROM subscriber")).all() == [
            ("ada@example.org", None)
        ]
        assert connection.execute(sa.text("SELECT number, status, send_at FROM issue")).all() == [
            (1, "sent", None)
        ]
        assert connection.execute(sa.text("SELECT status, not_before FROM delivery")).all() == [
            ("sent", None)
        ]
        assert connection.execute(sa.text("SELECT count(*) FROM issuewave")).scalar() == 0

    command.downgrade(alembic_config(at_0012), "0012")
    with at_0012.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM delivery")).scalar() == 1
        assert connection.execute(sa.text("SELECT email FROM subscriber")).scalar() == "ada@example.org"
