"""``digest demo`` as a newcomer runs it: a subprocess in an empty folder, its emails parsed by ``email``."""

import json
import os
import re
import sqlite3
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path

import pytest
from markupsafe import escape

from digest.config import DEVELOPMENT_SECRET
from digest.core.inline import emphasis_html, words
from digest.tokens import ClickTokens, Purpose, Tokens
from tests.support import parts_of, read_outbox

POSTAL = "Research Digest Ltd, 12 Sample Row, Exampletown EX1 2MP"


def run_demo(folder: Path) -> str:
    env = {key: value for key, value in os.environ.items() if not key.startswith("DIGEST_")}
    env["DIGEST_POSTAL_ADDRESS"] = POSTAL
    done = subprocess.run(
        [sys.executable, "-m", "digest", "demo"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    folder = tmp_path_factory.mktemp("demo")
    return folder, run_demo(folder)


def untracked(html: str) -> str:
    """The HTML with each tracked link (``/r/{token}``) replaced by the address its token leads to."""
    tokens = ClickTokens([DEVELOPMENT_SECRET])
    return re.sub(
        r'href="[^"]*/r/([A-Za-z0-9_\-.]+)"', lambda found: f'href="{tokens.read(found[1]).url}"', html
    )


def query(folder: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(folder / "digest.db") as connection:
        return connection.execute(sql).fetchall()


def test_demo_reports_where_the_emails_are(demo: tuple[Path, str]) -> None:
    folder, output = demo
    assert "14 new" in output
    assert f"outbox: 3 email(s) in {folder / 'outbox'}" in output
    assert len(read_outbox(folder / "outbox")) == 3


def test_each_email_is_well_formed_with_one_click_unsubscribe(demo: tuple[Path, str]) -> None:
    folder, _ = demo
    ids = {
        str(email): subscriber_id
        for email, subscriber_id in query(folder, "select email, id from subscriber")
    }
    tokens = Tokens([DEVELOPMENT_SECRET])
    message_ids = set()
    for message in read_outbox(folder / "outbox"):
        for header in ("Subject", "From", "Date", "Message-ID", "MIME-Version"):
            assert message[header], header
        message_ids.add(message["Message-ID"])
        parts_of(message)
        unsubscribe = str(message["List-Unsubscribe"])
        match = re.fullmatch(r"<https://127\.0\.0\.1:8000/unsubscribe/([\w.-]+)>", unsubscribe)
        assert match, unsubscribe
        claims = tokens.verify(Purpose.unsubscribe, match.group(1))
        assert claims.subscriber_id == ids[str(message["To"])]
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert len(message_ids) == 3


def everything_reader(folder: Path) -> EmailMessage:
    """The demo's reader who takes every topic (the others chose some, and get fewer summaries)."""
    return next(m for m in read_outbox(folder / "outbox") if m["To"] == "ada@example.org")


def test_readers_who_chose_topics_get_just_those_summaries(demo: tuple[Path, str]) -> None:
    folder, output = demo
    assert "in 3 variant(s)" in output
    rows = query(folder, "select coalesce(headline, title), topics from summary")
    topics = {str(title): set(json.loads(str(tags))) for title, tags in rows}
    for message in read_outbox(folder / "outbox"):
        chosen = {"ada@example.org": None, "grace@example.org": {"cardiology", "nutrition"}}.get(
            str(message["To"]), {"mental health", "sleep"}
        )
        plain, _ = parts_of(message)
        shown = {title for title in topics if words(title) in plain}
        wanted = {title for title, tags in topics.items() if chosen is None or chosen & tags}
        assert shown == wanted, message["To"]
        assert 0 < len(shown) <= len(topics)
    assert query(folder, "select count(*) from issuevariant") == [(3,)]


def test_html_shows_every_summary_of_the_issue(demo: tuple[Path, str]) -> None:
    folder, _ = demo
    items = query(
        folder,
        "select coalesce(s.headline, s.title), s.url, s.key_takeaway, s.what_it_means, s.study_type,"
        " s.evidence_level, i.featured from issueitem i join summary s on s.id = i.summary_id"
        " order by i.position",
    )
    assert len(items) == 14
    message = everything_reader(folder)
    plain, html = parts_of(message)
    assert len(html.encode()) < 102 * 1024
    assert "/r/" in html  # the demo tracks links in aggregate, the default
    for title, url, takeaway, meaning, study_type, evidence, featured in items:
        assert re.search(
            rf'<a href="{re.escape(str(url))}"[^>]*>{re.escape(emphasis_html(str(title)))}</a>',
            untracked(html),
        ), title
        assert words(str(title)) in plain
        if not featured:
            continue
        assert emphasis_html(str(takeaway)) in html
        assert emphasis_html(str(meaning)) in html
        for value in (study_type, evidence):
            if value:
                assert emphasis_html(str(value)) in html
    assert html.count(">What this means for you<") == 10
    assert "More this week" in html
    assert "<script>" not in html
    assert "on <b>placebo</b>" in html  # a sample's inline emphasis, rendered
    assert "&lt;" not in html


def test_footer_and_preheader(demo: tuple[Path, str]) -> None:
    folder, _ = demo
    [(preheader,)] = query(folder, "select preheader from issue")
    _, html = parts_of(everything_reader(folder))
    assert str(escape(preheader)) in html
    for text in (
        "You are receiving this because",
        "not medical advice",
        POSTAL,
        "Unsubscribe",
        "Manage preferences",
    ):
        assert text in html
    assert re.search(r'href="http://127\.0\.0\.1:8000/preferences/[\w.-]+"', html)
    assert 'href="http://127.0.0.1:8000/issues/1"' in html


def test_running_the_demo_again_duplicates_nothing(demo: tuple[Path, str]) -> None:
    folder, _ = demo
    before = sorted(path.read_bytes() for path in (folder / "outbox").glob("**/*.eml"))
    output = run_demo(folder)
    assert "0 new, 0 updated, 14 unchanged" in output
    assert "nothing new" in output
    assert "nothing to send" in output
    after = sorted(path.read_bytes() for path in (folder / "outbox").glob("**/*.eml"))
    assert after == before
    assert query(folder, "select count(*) from summary") == [(14,)]
    assert query(folder, "select count(*) from issue") == [(1,)]
    assert query(folder, "select count(*) from subscriber") == [(3,)]
    assert query(folder, "select count(*), status from delivery group by status") == [(3, "sent")]
