"""Migration 0014 adds the append-only ``engagement`` table to a database that holds issues, on both
databases; the issues stay, clicks can be appended, and a downgrade drops only the new table."""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import command

from digest.db.engine import make_engine
from tests.db.test_migrations import alembic_config

MOMENT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def test_upgrade_keeps_the_issues_and_takes_clicks(database_url: str) -> None:
    engine = make_engine(database_url)
    config = alembic_config(engine)
    command.upgrade(config, "0013")
    rows = sa.MetaData()
    rows.reflect(engine, only=["issue"])
    with engine.begin() as connection:
        connection.execute(
            rows.tables["issue"].insert().values(
                number=7, status="sent", window_start=MOMENT, window_end=MOMENT, subject="S", preheader="",
                note="", html="<p>h</p>", text="t", markers="0" * 32, created_at=MOMENT, updated_at=MOMENT,
            )
        )  # fmt: skip
    command.upgrade(config, "0014")
    after = sa.MetaData()
    after.reflect(engine, only=["issue", "engagement"])
    with engine.begin() as connection:
        assert connection.execute(sa.select(after.tables["issue"].c.number)).scalars().all() == [7]
        click = {"issue_number": 7, "action": "click", "kind": "page", "source": "redirect", "at": MOMENT}
        connection.execute(
            after.tables["engagement"].insert(), [{**click, "visitor": "a"}, {**click, "visitor": "a"}]
        )
        assert (
            connection.execute(sa.select(sa.func.count()).select_from(after.tables["engagement"])).scalar()
            == 2
        )
    command.downgrade(config, "0013")
    assert "engagement" not in sa.inspect(engine).get_table_names()
    with engine.begin() as connection:
        assert connection.execute(sa.text("SELECT number FROM issue")).scalars().all() == [7]
    engine.dispose()
