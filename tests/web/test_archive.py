"""The public archive as an anonymous visitor meets it, on SQLite and PostgreSQL: ``/issues``,
``/issues/{number}`` and ``/issues/feed.xml``.

Issues are composed, approved and sent in-process (the real sender, into memory) under a site address
that later changes, as it does when a service moves host: every link on the pages follows today's
``DIGEST_BASE_URL``. The feed is read back with feedparser, as a feed reader would.
"""

import re
from pathlib import Path

import feedparser
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from digest.db.engine import unit_of_work
from digest.issues.queries import get_issue
from digest.web.app import create_app
from digest.wiring import Parts
from tests.support.archive import Archive, build_archive, write_week

COMPOSED_AT = "https://old-host.example.net"  # the site's address when the issues were composed and sent
TODAY = "https://digest.example.org"  # DIGEST_BASE_URL now (conftest's env)
SUBSCRIBER_WORDS = ("You are receiving this", "Unsubscribe", "Manage preferences", "preferences", "__DIGEST_")
FEED_LINK = (
    '<link rel="alternate" type="application/atom+xml" title="Research Digest: past issues" '
    f'href="{TODAY}/issues/feed.xml">'
)


@pytest.fixture
def archive(engine: Engine, tmp_path: Path) -> Archive:
    return build_archive(engine, tmp_path / "archive-summaries", base_url=COMPOSED_AT)


def hrefs(html: str) -> list[str]:
    return re.findall(r'(?:href|action|content)="(https?://[^"]+)"', html)


def test_issue_page_is_a_page_of_the_site(client: TestClient, archive: Archive) -> None:
    first, middle, last = archive.sent
    page = client.get(f"/issues/{middle}")
    assert page.status_code == 200
    html = page.text
    assert (
        "<h1>Plain headline number 11, and 1 more</h1>" in html
    )  # the subject leads with the lead summary's headline
    assert "The key takeaway of study 11." in html
    assert "What study 12 means for readers." in html
    assert "A <em>short</em> note." in html
    # The site's own layout and a way in: the sign-up call to action, and back to the list.
    assert 'href="/issues">Research Digest</a>' in html
    assert f'<form method="get" action="{TODAY}/subscribe">' in html
    assert f'href="{TODAY}/issues">← All issues' in html
    # Previous and next published issues, each by its subject.
    previous = f'rel="prev" href="{TODAY}/issues/{first}">← Issue {first}<span>Plain headline number 1, and'
    following = f'rel="next" href="{TODAY}/issues/{last}">Issue {last} →<span>Plain headline number 21, and'
    assert previous in html
    assert following in html
    # What a shared link shows, and the one address of the page.
    assert f'<link rel="canonical" href="{TODAY}/issues/{middle}">' in html
    assert f'<meta property="og:url" content="{TODAY}/issues/{middle}">' in html
    assert '<meta property="og:title" content="Plain headline number 11' in html
    assert '<meta property="og:type" content="article">' in html
    assert '<meta name="twitter:card" content="summary">' in html
    assert re.search(r'<meta name="twitter:description" content="[^"]{20,}">', html)
    assert FEED_LINK in html


def test_the_card_shows_the_logo_when_there_is_one(
    client: TestClient, archive: Archive, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "og:image" not in client.get(f"/issues/{archive.sent[0]}").text
    monkeypatch.setenv("DIGEST_LOGO_URL", "https://cdn.example.org/logo.png")
    monkeypatch.setenv("DIGEST_LOGO_ALT", "Research Digest: a magnifier over a heart")
    with Parts.from_environment() as parts, TestClient(create_app(parts), base_url=TODAY) as branded:
        for path in ("/issues", f"/issues/{archive.sent[0]}"):
            html = branded.get(path).text
            assert '<meta property="og:image" content="https://cdn.example.org/logo.png">' in html
            assert (
                '<meta property="og:image:alt" content="Research Digest: a magnifier over a heart">' in html
            )


def test_first_and_latest_issue_link_only_to_what_exists(client: TestClient, archive: Archive) -> None:
    first, _, last = archive.sent
    oldest = client.get(f"/issues/{first}").text
    assert 'rel="prev"' not in oldest
    assert 'rel="next"' in oldest
    newest = client.get(f"/issues/{last}").text
    assert 'rel="next"' not in newest, "the next issue is not published yet: no link to it"
    assert f"/issues/{archive.approved}" not in newest
    assert f"/issues/{archive.draft}" not in newest


def test_anonymous_visitor_sees_no_personal_link_or_subscriber_wording(
    client: TestClient, archive: Archive
) -> None:
    for path in ["/issues", *(f"/issues/{number}" for number in archive.sent)]:
        html = client.get(path).text
        for words in SUBSCRIBER_WORDS:
            assert words.casefold() not in html.casefold(), (path, words)
        assert "/unsubscribe" not in html, path
        assert "/preferences" not in html, path
        assert "1 Example Street" not in html, "the postal address belongs to the email's footer"


def test_links_follow_todays_base_url(client: TestClient, archive: Archive, engine: Engine) -> None:
    with unit_of_work(engine) as session:
        stored = get_issue(session, archive.sent[0]).html
    assert f"{COMPOSED_AT}/issues/{archive.sent[0]}" in stored, "the sent email links to the old host"
    for path in ["/issues", f"/issues/{archive.sent[1]}", "/issues/feed.xml"]:
        body = client.get(path).text
        assert COMPOSED_AT not in body, path
        ours = [url for url in hrefs(body) if "example.org" in url and "summaries." not in url]
        assert ours, path
        assert all(url.startswith(TODAY + "/") for url in ours), (path, ours)


def same_page(html: str, number: str) -> str:
    """The page with its number and its per-response nonce taken out."""
    return re.sub(r'nonce="[^"]+"', "", html).replace(f"Issue {number} ", "Issue N ")


def test_a_summary_updated_after_the_send_leaves_the_archive_as_sent(
    client: TestClient, archive: Archive, engine: Engine, tmp_path: Path
) -> None:
    """The source changes the lead summary of the second issue after it went out: ingest keeps a sent
    issue's summaries as they were, so its page and feed entry still show the words readers were sent."""
    changes = {"key_takeaway": "A corrected takeaway.", "headline": "A corrected headline"}
    write_week(engine, tmp_path / "archive-summaries", 1, base_url=COMPOSED_AT, **changes)
    page = client.get(f"/issues/{archive.sent[1]}").text
    entry = next(
        entry
        for entry in feedparser.parse(client.get("/issues/feed.xml").content).entries
        if entry.link.endswith(f"/issues/{archive.sent[1]}")
    )
    for shown in (page, entry.content[0].value):
        assert "The key takeaway of study 11." in shown
        assert "Plain headline number 11" in shown
        assert "corrected" not in shown


def test_unpublished_issues_answer_as_missing_ones(client: TestClient, archive: Archive) -> None:
    missing = client.get("/issues/99")
    for number in (archive.draft, archive.approved):
        page = client.get(f"/issues/{number}")
        assert page.status_code == 404
        assert same_page(page.text, str(number)) == same_page(missing.text, "99")
    listing = client.get("/issues").text
    for number in (archive.draft, archive.approved):
        assert f'/issues/{number}"' not in listing
    feed = feedparser.parse(client.get("/issues/feed.xml").content)
    assert {entry.link for entry in feed.entries} == {f"{TODAY}/issues/{n}" for n in archive.sent}


def test_listing_is_newest_first(client: TestClient, archive: Archive) -> None:
    html = client.get("/issues").text
    found = [int(n) for n in re.findall(rf'href="{TODAY}/issues/(\d+)"', html)]
    assert found == sorted(archive.sent, reverse=True)
    assert f'<link rel="canonical" href="{TODAY}/issues">' in html
    assert f'href="{TODAY}/issues/feed.xml">Follow the Atom feed' in html


def test_feed_parses_and_lists_issues_newest_first(client: TestClient, archive: Archive) -> None:
    answer = client.get("/issues/feed.xml")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/atom+xml; charset=utf-8"
    feed = feedparser.parse(answer.content)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10"
    assert feed.feed.title == "Research Digest"
    assert feed.feed.id == f"{TODAY}/issues"
    assert {link.rel: link.href for link in feed.feed.links} == {
        "self": f"{TODAY}/issues/feed.xml",
        "alternate": f"{TODAY}/issues",
    }
    numbers = [int(entry.link.rsplit("/", 1)[1]) for entry in feed.entries]
    assert numbers == sorted(archive.sent, reverse=True)
    stamps = [entry.published_parsed for entry in feed.entries]
    assert stamps == sorted(stamps, reverse=True)
    newest = feed.entries[0]
    assert newest.id == newest.link
    assert newest.title.startswith(f"Issue {numbers[0]}: Plain headline number 21")
    content = newest.content[0]
    assert content.type == "text/html"
    assert "The key takeaway of study 21." in content.value
    assert "https://summaries.example.org/s/test-21" in content.value
    for words in SUBSCRIBER_WORDS:
        assert words.casefold() not in answer.text.casefold()


def test_empty_feed_is_still_valid(client: TestClient) -> None:
    feed = feedparser.parse(client.get("/issues/feed.xml").content)
    assert not feed.bozo
    assert feed.version == "atom10"
    assert feed.entries == []
    assert feed.feed.updated


def test_head_answers_like_get(client: TestClient, archive: Archive) -> None:
    for path in ["/issues", f"/issues/{archive.sent[0]}", "/issues/feed.xml", f"/issues/{archive.draft}"]:
        got, head = client.get(path), client.head(path)
        assert head.status_code == got.status_code, path
        assert head.headers["content-type"] == got.headers["content-type"], path
        assert head.content == b""
