"""Feeds as sources: JSON Feed 1.1 with ``_digest``, RSS 2.0 and Atom with the project's namespace.

Parsing is checked on documents (encodings, malformed XML, markup, missing fields); ingest through a
feed server on loopback (the same id from two sources, changes after ingest, dates in the future).
"""

import json
import re
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from sqlalchemy import Engine

from digest.db.engine import unit_of_work
from digest.db.models import IssueStatus
from digest.issues.compose import compose
from digest.sources.feeds import FeedSource, display_name, parse_feed
from digest.sources.fetch import FetchRules
from digest.sources.folder import FolderSource
from tests.support import CORPORA, NOW, summary, write_summaries
from tests.support.feed_server import FeedServer, conditional, serving
from tests.support.feeds import FORMATS, NAMESPACE, json_feed, rss_feed
from tests.support.sources import RULES as COMPOSE_RULES
from tests.support.sources import compose_issue, decide, issue_number, renderer, run, stored

ROOT = Path(__file__).resolve().parents[2]
JSONFEED = CORPORA / "jsonfeed"
RULES = FetchRules(timeout=5, max_bytes=1_000_000, max_redirects=3)

Build = Callable[..., bytes]


@pytest.fixture
def feeds() -> Iterator[FeedServer]:
    with serving() as server:
        yield server


def full_summary(number: int, **fields: Any) -> dict[str, Any]:
    """A summary with every optional field, so each format's mapping is checked field by field."""
    extra: dict[str, Any] = {
        "summary": f"A longer plain-language summary of study {number}.",
        "source": {"journal": "The Journal", "doi": f"10.1000/{number}", "published": "2026-11"},
        "faq": [{"question": "Who took part?", "answer": "Adults over 40."}],
        "topics": ["Cardiology", "Exercise"],
    }
    return summary(number, **{**extra, **fields})


# --- the three formats ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_every_format_gives_the_same_summaries(fmt: str) -> None:
    items = [full_summary(1), full_summary(2, headline=None, study_type=None)]
    batch = parse_feed("https://feeds.example.org/f", FORMATS[fmt](*items))

    assert (batch.error, batch.rejected) == (None, [])
    reference = parse_feed("reference", json_feed(*items)).summaries
    assert batch.summaries == reference
    first = batch.summaries[0]
    assert (first.id, first.url, first.title) == ("test-001", items[0]["url"], items[0]["title"])
    assert first.published_at.isoformat() == items[0]["published_at"]
    assert first.topics == ("cardiology", "exercise")
    assert first.source is not None
    assert first.source.doi == "10.1000/1"
    assert [(entry.question, entry.answer) for entry in first.faq] == [("Who took part?", "Adults over 40.")]
    assert batch.summaries[1].headline is None


def test_our_json_feed_is_a_valid_json_feed_1_1() -> None:
    schema = json.loads((JSONFEED / "schema-v1.1.json").read_text(encoding="utf-8"))
    document = json.loads(json_feed(full_summary(1), full_summary(2)))

    jsonschema.validate(document, schema)


@pytest.mark.parametrize(
    "path", sorted(JSONFEED.glob("test/examples/*/*.json")), ids=lambda p: p.parent.name + p.name
)
def test_the_spec_examples_are_read_and_each_item_without_digest_is_rejected_with_the_reason(
    path: Path,
) -> None:
    document = json.loads(path.read_text(encoding="utf-8"))

    batch = parse_feed("https://example.org/feed.json", path.read_bytes())

    assert batch.error is None
    assert batch.summaries == []
    assert len(batch.rejected) == len(document["items"])
    for number, rejection in enumerate(batch.rejected, start=1):
        assert str(rejection).startswith(f"https://example.org/feed.json item {number}: summary ")
        assert "_digest: missing: the summary's fields belong in it" in str(rejection)


def test_json_feed_item_fields_fill_what_digest_leaves_out_and_numbers_become_ids() -> None:
    feed = {
        "version": "https://jsonfeed.org/version/1",
        "items": [
            {
                "id": 7,
                "url": "https://summaries.example.org/s/7",
                "title": "From the item",
                "date_published": "2026-11-20T10:00:00+01:00",
                "content_text": "Plain summary text.",
                "content_html": "<p>never read</p>",
                "tags": ["Sleep"],
                "_digest": {"key_takeaway": "K.", "what_it_means": "W.", "title": "From _digest"},
            }
        ],
    }
    [item] = parse_feed("f", json.dumps(feed).encode()).summaries

    assert (item.id, item.title, item.summary, item.topics) == (
        "7",
        "From _digest",
        "Plain summary text.",
        ("sleep",),
    )


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        (b'{"items": []}', 'not a JSON Feed: "version" must be https://jsonfeed.org/version/1.1'),
        (
            b'{"version": "https://jsonfeed.org/version/1.1", "items": {}}',
            'not a JSON Feed: "items" must be a list',
        ),
        (b"[1, 2]", "not a JSON Feed: expected an object, got list"),
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": [', "not valid JSON"),
        (b"[" * 100_000, "not valid JSON"),
        (b"Internal Server Error", "neither a JSON Feed nor XML: the answer starts with 'Internal Server E"),
        (b"", "neither a JSON Feed nor XML: the answer starts with nothing"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "neither a JSON Feed nor XML"),
        (b"<html><body>Moved</body></html>", "neither RSS 2.0 nor Atom: the root element is <html>"),
        (b"<rss><channel><item><title>cut short", "not well-formed XML: no element found"),
        (b"<rss><channel></rss>", "not well-formed XML: mismatched tag"),
    ],
)
def test_a_document_that_is_no_feed_fails_the_source_with_the_reason(document: bytes, reason: str) -> None:
    batch = parse_feed("https://feeds.example.org/f", document)

    assert batch.error is not None
    assert batch.error.startswith(reason), batch.error
    assert batch.summaries == []


def test_entity_declarations_are_refused_and_html_entities_are_read() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;">]><rss>&b;</rss>'
    )
    external = b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY x SYSTEM "file:///etc/passwd">]><rss>&x;</rss>'
    for document in (bomb, external):
        error = parse_feed("f", document).error
        assert error is not None
        assert error.startswith("refused: the XML declares entities"), error

    nbsp = rss_feed(summary(1)).replace(b"<title>A formal", b"<title>A&nbsp;formal&hellip;")
    [item] = parse_feed("f", nbsp).summaries
    assert item.title.startswith("A\u00a0formal\u2026")


# --- encodings --------------------------------------------------------------------------------------------

TITLE = "Café, naïve and “quoted” — a trial"


def encoded_cases() -> list[Any]:
    item = summary(1, title=TITLE)
    utf8 = rss_feed(item)
    return [
        pytest.param(utf8, None, id="utf-8"),
        pytest.param(b"\xef\xbb\xbf" + utf8, None, id="utf-8-bom"),
        pytest.param(rss_feed(item, encoding="utf-16", declare="utf-16"), None, id="utf-16-bom"),
        pytest.param(rss_feed(item, encoding="utf-16-le", declare="utf-16"), None, id="utf-16-no-bom"),
        pytest.param(
            rss_feed(item, encoding="cp1252", declare="windows-1252"), None, id="windows-1252-declared"
        ),
        pytest.param(
            rss_feed(item, encoding="cp1252", declare="utf-8"), None, id="windows-1252-declared-utf-8"
        ),
        pytest.param(rss_feed(item, encoding="cp1252", declare=None), None, id="windows-1252-undeclared"),
        pytest.param(rss_feed(item, declare="iso-8859-1"), None, id="utf-8-declared-latin-1"),
        pytest.param(
            rss_feed(item, encoding="cp1252", declare=None), "utf-8", id="windows-1252-served-as-utf-8"
        ),
        pytest.param(
            rss_feed(item, encoding="cp1252", declare="bogus-charset"), "koi8-nonsense", id="unknown-labels"
        ),
        pytest.param(json_feed(item).decode().encode("cp1252"), None, id="json-windows-1252"),
        pytest.param(b"\xef\xbb\xbf" + json_feed(item), "iso-8859-1", id="json-bom-served-as-latin-1"),
    ]


@pytest.mark.parametrize(("document", "charset"), encoded_cases())
def test_wrong_or_missing_encodings_and_byte_order_marks_still_read_the_text(
    document: bytes, charset: str | None
) -> None:
    batch = parse_feed("f", document, charset=charset)

    assert (batch.error, batch.rejected) == (None, [])
    assert [item.title for item in batch.summaries] == [TITLE]


# --- what items hold --------------------------------------------------------------------------------------

MARKUP = "<b>Coffee</b> & tea <script>alert('x')</script> <img src=x onerror=alert(1)>"


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_fields_keep_only_inline_emphasis_as_markup(engine: Engine, feeds: FeedServer, fmt: str) -> None:
    item = summary(1, headline=MARKUP, key_takeaway=MARKUP, what_it_means="<p>Means &amp; this</p>")
    feeds.routes["/feed"] = (200, {}, FORMATS[fmt](item))

    [report] = run(engine, FeedSource(feeds.url("/feed"), RULES))

    assert (report.new, report.rejected) == (1, [])
    row = stored(engine)["test-001"]
    assert (row.headline, row.key_takeaway, row.what_it_means) == (MARKUP, MARKUP, "<p>Means &amp; this</p>")
    issue = compose_issue(engine)
    for markup in ("<script", "<img", "<p>Means", "alert(", "&lt;"):
        assert markup not in issue.html
    assert "<b>Coffee</b> &amp; tea" in issue.html  # stored as given, shown with its emphasis
    assert "Coffee & tea" in issue.text
    assert "<b>" not in issue.text


def test_elements_nested_in_a_field_give_their_text_only() -> None:
    nested = rss_feed(summary(1)).replace(
        b"<digest:key_takeaway>The key takeaway of study 1.",
        b"<digest:key_takeaway><b>Bold</b> and <script>alert(1)</script> text.",
    )
    [item] = parse_feed("f", nested).summaries

    assert item.key_takeaway.startswith("Bold and alert(1) text.")


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_missing_fields_are_rejected_naming_the_item_and_the_field(fmt: str) -> None:
    items = [summary(1), summary(2, key_takeaway=None, url=None), summary(3, published_at=None)]
    items[2].pop("published_at")

    batch = parse_feed("https://feeds.example.org/f", FORMATS[fmt](*items))

    assert [item.id for item in batch.summaries] == ["test-001"]
    assert sorted(map(str, batch.rejected)) == [
        "https://feeds.example.org/f item 2: summary test-002: url: missing (required); "
        "key_takeaway: missing (required)",
        "https://feeds.example.org/f item 3: summary test-003: published_at: missing (required)",
    ]


def test_an_rss_date_is_read_and_a_bad_one_is_rejected() -> None:
    good = rss_feed(summary(1)).replace(
        re.search(rb"<pubDate>[^<]*</pubDate>", rss_feed(summary(1))).group(0),  # type: ignore[union-attr]
        b"<pubDate>Mon, 23 Nov 2026 08:00:00 -0000</pubDate>",
    )
    [item] = parse_feed("f", good).summaries
    assert item.published_at == NOW - timedelta(hours=1)

    bad = good.replace(b"Mon, 23 Nov 2026 08:00:00 -0000", b"last Tuesday")
    [rejection] = parse_feed("f", bad).rejected
    assert "published_at: Input should be a valid datetime" in str(rejection)


def test_the_same_id_twice_in_one_feed_keeps_the_first() -> None:
    batch = parse_feed("f", json_feed(summary(1), summary(1, title="Again")))

    assert [item.title for item in batch.summaries] == ["A formal title of study number 1"]
    assert [str(r) for r in batch.rejected] == ["f item 2: summary test-001: id: already given by f item 1"]


def test_a_password_in_a_feed_url_is_masked_in_reports() -> None:
    assert display_name("https://reader:s3cret@feeds.example.org:8443/f.xml") == (
        "https://reader:***@feeds.example.org:8443/f.xml"
    )
    assert display_name("https://feeds.example.org/f.xml") == "https://feeds.example.org/f.xml"


# --- ingest -------------------------------------------------------------------------------------------------


def test_the_same_id_from_two_sources_goes_in_once_in_one_run_and_in_later_runs(
    engine: Engine, feeds: FeedServer, tmp_path: Path
) -> None:
    feeds.routes["/feed"] = (200, {}, json_feed(summary(1), summary(2)))
    write_summaries(tmp_path / "folder", "week.json", [summary(1, title="The folder's title"), summary(3)])
    feed, folder = FeedSource(feeds.url("/feed"), RULES), FolderSource(tmp_path / "folder")

    first, second = run(engine, feed, folder)

    assert (first.new, first.rejected) == (2, [])
    assert second.new == 1
    assert second.rejected == [
        f"week.json: summary test-001: id: already given by {feeds.url('/feed')} item 1"
    ]

    # The next run, the folder alone: the id still belongs to the feed.
    [later] = run(engine, folder, now=NOW + timedelta(hours=1))
    assert later.rejected == [f"week.json: summary test-001: id: already given by {feeds.url('/feed')}"]
    assert stored(engine)["test-001"].title == "A formal title of study number 1"


def test_an_item_changed_after_ingest_is_updated_while_unsent_and_kept_once_approved(
    engine: Engine, feeds: FeedServer
) -> None:
    feed = FeedSource(feeds.url("/feed"), RULES)
    feeds.routes["/feed"] = conditional(json_feed(summary(1), summary(2)), etag='"v1"')
    run(engine, feed)
    compose_issue(engine)

    feeds.routes["/feed"] = conditional(
        json_feed(summary(1, key_takeaway="Corrected."), summary(2)), etag='"v2"'
    )
    [report] = run(engine, feed, now=NOW + timedelta(hours=1))
    assert (report.updated, report.unchanged) == (1, 1)
    assert "Corrected." in issue_number(engine, 1).html

    decide(engine, 1, IssueStatus.approved)
    feeds.routes["/feed"] = conditional(json_feed(summary(1, key_takeaway="Again."), summary(2)), etag='"v3"')
    [report] = run(engine, feed, now=NOW + timedelta(hours=2))
    assert (report.updated, report.locked) == (0, 1)
    assert stored(engine)["test-001"].key_takeaway == "Corrected."


def test_items_dated_in_the_future_wait_for_their_time(engine: Engine, feeds: FeedServer) -> None:
    soon = NOW + timedelta(days=2)
    feeds.routes["/feed"] = (200, {}, rss_feed(summary(1), summary(2, published_at=soon)))

    [report] = run(engine, FeedSource(feeds.url("/feed"), RULES))

    assert (report.new, report.future) == (2, 1)
    assert report.line.endswith(
        "2 new, 0 updated, 0 unchanged, 0 rejected, 1 dated in the future (held until then)"
    )
    first = compose_issue(engine)
    assert "Plain headline number 1" in first.text
    assert "study number 2" not in first.text

    with unit_of_work(engine) as session:
        assert compose(session, renderer(), COMPOSE_RULES, now=soon - timedelta(minutes=1)) is None
    with unit_of_work(engine) as session:
        second = compose(session, renderer(), COMPOSE_RULES, now=soon + timedelta(minutes=1))
        assert second is not None
        assert "Plain headline number 2" in second.text


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_a_date_beyond_the_calendar_in_utc_is_rejected_alone(
    engine: Engine, feeds: FeedServer, fmt: str
) -> None:
    late = summary(3, published_at=datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(-timedelta(hours=14))))
    early = summary(2, published_at=datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14))))
    beyond = [late] if fmt == "rss" else [early, late]  # RFC 822 reads the year 0001 as 2001
    feeds.routes["/feed"] = (200, {}, FORMATS[fmt](summary(1), *beyond))

    [report] = run(engine, FeedSource(feeds.url("/feed"), RULES))

    assert (report.error, report.new) == (None, 1)
    assert [line.partition(": ")[2] for line in report.rejected] == [
        f"summary {item['id']}: published_at: must fall within the years 1 to 9999 once moved to UTC"
        for item in beyond
    ]
    assert set(stored(engine)) == {"test-001"}


def test_the_feed_examples_in_the_docs_are_the_ones_read() -> None:
    readme = (ROOT / "docs" / "sources-and-api.md").read_text(encoding="utf-8")

    assert f'xmlns:digest="{NAMESPACE}"' in readme
    example = re.search(r"```xml\n(.*?)```", readme, re.DOTALL)
    assert example is not None
    batch = parse_feed("readme", example.group(1).encode())
    assert (batch.error, batch.rejected, len(batch.summaries)) == (None, [], 1)
    json_example = re.search(r"```json\n(\{\n  \"version\": \"https://jsonfeed.org.*?)```", readme, re.DOTALL)
    assert json_example is not None
    batch = parse_feed("readme", json_example.group(1).encode())
    assert (batch.error, batch.rejected, len(batch.summaries)) == (None, [], 1)
