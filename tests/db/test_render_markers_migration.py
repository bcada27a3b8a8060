"""Migration 0012 gives every stored render a marker key of its own, on both databases.

A render stored before it held the fixed markers, both where the template put them and, had a summary or
an editor's words carried one before markers were cut on the way in, inside an attacker's link. After the
upgrade only the template's are filled for a reader; the others stay words. A downgrade restores the
fixed markers where the template put them.
"""

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import Engine

from digest.core.personalize import Markers, Personalizer, RecipientLinks
from digest.db.engine import make_engine, upgrade
from tests.db.test_migrations import alembic_config

EVIL = "https://evil.example/?u=__DIGEST_PREFERENCES_URL__"
HTML = (
    f'<p>News</p><a href="{EVIL}">look</a> {EVIL}'
    '<a href="__DIGEST_UNSUBSCRIBE_URL__">Unsubscribe</a> <a href="__DIGEST_PREFERENCES_URL__">Manage</a>'
)
TEXT = (
    f"News {EVIL}\nSee: {EVIL}\n\n"
    "Unsubscribe: __DIGEST_UNSUBSCRIBE_URL__\nManage preferences: __DIGEST_PREFERENCES_URL__\n"
)
LINKS = RecipientLinks(
    unsubscribe="https://d.example/unsubscribe/T", preferences="https://d.example/preferences/T"
)


@pytest.fixture
def at_0011(database_url: str) -> Iterator[Engine]:
    """A database at the schema before 0012, holding one issue and one variant rendered then."""
    engine = make_engine(database_url)
    command.upgrade(alembic_config(engine), "0011")
    moment = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    rows = sa.MetaData()
    rows.reflect(engine, only=["issue", "issuevariant"])
    issue, variant = rows.tables["issue"], rows.tables["issuevariant"]
    with engine.begin() as connection:
        made = connection.execute(
            issue.insert().values(
                number=1, status="approved", window_start=moment, window_end=moment, subject="S",
                preheader="", note="", html=HTML, text=TEXT, created_at=moment, updated_at=moment,
            )
        )  # fmt: skip
        assert made.inserted_primary_key is not None
        issue_id = made.inserted_primary_key[0]
        connection.execute(
            variant.insert().values(
                issue_id=issue_id, position=1, summaries="1", choices=[], subscribers=1, subject="S",
                preheader="", html=HTML, text=TEXT, created_at=moment,
            )
        )  # fmt: skip
    yield engine
    engine.dispose()


def stored(engine: Engine) -> list[tuple[str, str, str]]:
    with engine.connect() as connection:
        issues = connection.execute(sa.text("SELECT html, text, markers FROM issue")).all()
        variants = connection.execute(sa.text("SELECT html, text, markers FROM issuevariant")).all()
    return [(html, text, markers) for html, text, markers in [*issues, *variants]]


def test_old_renders_get_keys_and_only_the_templates_markers_are_filled(at_0011: Engine) -> None:
    upgrade(at_0011)

    renders = stored(at_0011)
    assert len(renders) == 2
    assert len({markers for _, _, markers in renders}) == 2  # a key of its own each
    for html, text, key in renders:
        markers = Markers.of(key)
        filled_html = Personalizer(html, markers).fill(LINKS)
        filled_text = Personalizer(text, markers).fill(LINKS)
        assert f'href="{LINKS.unsubscribe}"' in filled_html
        assert f'href="{LINKS.preferences}"' in filled_html
        assert f"Unsubscribe: {LINKS.unsubscribe}\nManage preferences: {LINKS.preferences}\n" in filled_text
        for filled in (filled_html, filled_text):
            assert filled.count(LINKS.preferences) == 1
            assert filled.count(EVIL) == filled.count("evil.example") > 0  # the attacker's stay words


def test_a_downgrade_puts_the_fixed_markers_back(at_0011: Engine) -> None:
    upgrade(at_0011)

    command.downgrade(alembic_config(at_0011), "0011")

    with at_0011.connect() as connection:
        rows = connection.execute(
            sa.text("SELECT html, text FROM issue UNION ALL SELECT html, text FROM issuevariant")
        )
        assert [tuple(row) for row in rows] == [(HTML, TEXT), (HTML, TEXT)]
