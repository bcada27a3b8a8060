"""Fetching feeds from a server on loopback: good feeds, 304s, slow answers, huge answers, garbage, redirects.

A failing source is recorded and shown by ``digest status``, and never stops the other sources.
"""

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from digest.db.engine import unit_of_work
from digest.db.models import SourceState
from digest.sources import Source, Validators
from digest.sources.feeds import FeedSource
from digest.sources.fetch import FetchRules
from digest.sources.folder import FolderSource
from tests.support import NOW, summary, write_summaries
from tests.support.cli import Digest
from tests.support.feed_server import Answer, Endless, FeedServer, Slow, Trickle, conditional, serving
from tests.support.feeds import atom_feed, json_feed, rss_feed
from tests.support.sources import run, stored

RULES = FetchRules(timeout=1.0, max_bytes=200_000, max_redirects=2)
LAST_MODIFIED = "Mon, 23 Nov 2026 08:00:00 GMT"


@pytest.fixture
def feeds() -> Iterator[FeedServer]:
    with serving() as server:
        yield server


def states(engine: Engine) -> dict[str, SourceState]:
    with unit_of_work(engine) as session:
        return {state.name: state for state in session.exec(select(SourceState))}


def read(feeds: FeedServer, path: str, rules: FetchRules = RULES) -> str | None:
    """The error of one read of ``path`` (None when it was read)."""
    return FeedSource(feeds.url(path), rules).read().error


# --- good feeds and conditional GET -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "validators"),
    [
        pytest.param(json_feed(summary(1), summary(2)), {"etag": '"feed-v1"'}, id="json-etag"),
        pytest.param(
            rss_feed(summary(1), summary(2)), {"last_modified": LAST_MODIFIED}, id="rss-last-modified"
        ),
        pytest.param(
            atom_feed(summary(1), summary(2)),
            {"etag": 'W/"a1"', "last_modified": LAST_MODIFIED},
            id="atom-both",
        ),
    ],
)
def test_an_unchanged_feed_costs_one_request_answered_304(
    engine: Engine, feeds: FeedServer, body: bytes, validators: dict[str, str]
) -> None:
    feeds.routes["/feed"] = conditional(body, **validators, **{"Content-Type": "application/feed+json"})
    source = FeedSource(feeds.url("/feed"), RULES)

    [first] = run(engine, source)
    assert (first.new, first.rejected, first.error) == (2, [], None)
    [state] = states(engine).values()
    assert (state.etag, state.last_modified) == (validators.get("etag"), validators.get("last_modified"))

    [second] = run(engine, source, now=NOW + timedelta(hours=1))

    assert second.line == f"{feeds.url('/feed')}: not modified since the last read"
    first_request, second_request = feeds.requests_to("/feed")
    assert (first_request.status, second_request.status) == (200, 304)
    assert "if-none-match" not in first_request.headers
    assert second_request.headers.get("if-none-match") == validators.get("etag")
    assert second_request.headers.get("if-modified-since") == validators.get("last_modified")
    assert {row.updated_at for row in stored(engine).values()} == {NOW}
    assert states(engine)[feeds.url("/feed")].succeeded_at == NOW + timedelta(hours=1)


def test_a_changed_feed_is_read_again_and_its_new_validators_kept(engine: Engine, feeds: FeedServer) -> None:
    source = FeedSource(feeds.url("/feed"), RULES)
    feeds.routes["/feed"] = conditional(json_feed(summary(1)), etag='"v1"')
    run(engine, source)

    feeds.routes["/feed"] = conditional(
        json_feed(summary(1, title="A corrected title"), summary(2)), etag='"v2"'
    )
    [report] = run(engine, source, now=NOW + timedelta(hours=1))

    assert (report.new, report.updated) == (1, 1)
    assert feeds.requests_to("/feed")[-1].headers["if-none-match"] == '"v1"'
    assert states(engine)[feeds.url("/feed")].etag == '"v2"'
    assert stored(engine)["test-001"].title == "A corrected title"


def test_a_304_that_leaves_out_its_validators_keeps_the_ones_sent(feeds: FeedServer) -> None:
    feeds.routes["/feed"] = (304, {}, b"")

    batch = FeedSource(feeds.url("/feed"), RULES).read(Validators(etag='"v1"', last_modified=LAST_MODIFIED))

    assert batch.not_modified
    assert batch.validators == Validators(etag='"v1"', last_modified=LAST_MODIFIED)


def test_redirects_are_followed_up_to_the_cap(feeds: FeedServer) -> None:
    feeds.routes["/feed"] = (200, {}, json_feed(summary(1)))
    feeds.routes["/moved"] = (301, {"Location": "/feed"}, b"")
    feeds.routes["/moved-twice"] = (302, {"Location": "/moved"}, b"")
    feeds.routes["/loop"] = (302, {"Location": "/loop"}, b"")

    assert FeedSource(feeds.url("/moved-twice"), RULES).read().summaries[0].id == "test-001"
    assert read(feeds, "/loop") == "more than 2 redirects"
    assert len(feeds.requests_to("/loop")) == 3


# --- failing feeds ------------------------------------------------------------------------------------------


def garbage() -> Answer:
    return 200, {"Content-Type": "application/rss+xml"}, bytes(range(256)) * 40


@pytest.mark.parametrize(
    ("route", "error"),
    [
        pytest.param((500, {}, b"oops"), "answered HTTP 500 Internal Server Error", id="500"),
        pytest.param((404, {}, b""), "answered HTTP 404 Not Found", id="404"),
        pytest.param(garbage(), "neither a JSON Feed nor XML", id="garbage"),
        pytest.param((200, {}, b"<rss><channel><item>\x00</item>"), "not well-formed XML", id="broken-xml"),
        pytest.param(
            (200, {}, b"<html><body>login</body></html>"), "neither RSS 2.0 nor Atom", id="html-page"
        ),
        pytest.param(
            (200, {"Content-Length": "999999999"}, b""),
            "too large: 999,999,999 bytes announced",
            id="announced",
        ),
        pytest.param(Endless(total=50_000_000), "too large: more than 200,000 bytes", id="endless"),
    ],
)
def test_a_feed_that_cannot_be_read_fails_with_the_reason(
    feeds: FeedServer, route: Answer | Endless, error: str
) -> None:
    feeds.routes["/feed"] = route

    started = time.monotonic()
    message = read(feeds, "/feed")

    assert message is not None
    assert message.startswith(error), message
    assert time.monotonic() - started < 3


@pytest.mark.parametrize(
    "route",
    [pytest.param(Slow(seconds=3), id="no-answer"), pytest.param(Trickle(every=0.2, count=30), id="trickle")],
)
def test_a_slow_feed_times_out(feeds: FeedServer, route: Slow | Trickle) -> None:
    feeds.routes["/feed"] = route

    started = time.monotonic()
    message = read(feeds, "/feed", FetchRules(timeout=0.5, max_bytes=200_000, max_redirects=2))

    assert message is not None
    assert message.startswith("timed out"), message
    assert time.monotonic() - started < 2


def test_an_unreachable_feed_fails_with_the_reason() -> None:
    with serving() as gone:
        url = gone.url("/feed")
    message = FeedSource(url, RULES).read().error

    assert message is not None
    assert message.startswith("unreachable: ConnectError")


def test_a_failing_source_is_recorded_and_does_not_stop_the_others(
    engine: Engine, feeds: FeedServer, tmp_path: Path
) -> None:
    feeds.routes["/good"] = (200, {}, rss_feed(summary(1)))
    feeds.routes["/bad"] = (503, {}, b"")
    write_summaries(tmp_path / "folder", "week.json", summary(2))
    sources: list[Source] = [
        FeedSource(feeds.url("/bad"), RULES),
        FeedSource(feeds.url("/good"), RULES),
        FolderSource(tmp_path / "folder"),
    ]

    bad, good, folder = run(engine, *sources)
    bad_again, *_ = run(engine, *sources, now=NOW + timedelta(hours=1))

    assert bad.line == f"{feeds.url('/bad')}: failed: answered HTTP 503 Service Unavailable"
    assert (good.new, folder.new) == (1, 1)
    assert set(stored(engine)) == {"test-001", "test-002"}
    state = states(engine)[feeds.url("/bad")]
    assert (state.failing_since, state.failures, state.succeeded_at) == (NOW, 2, None)
    assert state.report == bad_again.line

    feeds.routes["/bad"] = (200, {}, json_feed(summary(3)))
    run(engine, *sources, now=NOW + timedelta(hours=2))
    state = states(engine)[feeds.url("/bad")]
    assert (state.failing_since, state.failures, state.succeeded_at) == (None, 0, NOW + timedelta(hours=2))


def test_a_source_that_raises_fails_alone(engine: Engine, tmp_path: Path) -> None:
    class Broken:
        name = "broken"

        def read(self, known: Validators | None = None) -> object:
            raise RuntimeError("a bug in a source")

    write_summaries(tmp_path / "folder", "week.json", summary(1))

    broken, folder = run(engine, Broken(), FolderSource(tmp_path / "folder"))  # type: ignore[arg-type]

    assert broken.line == "broken: failed: RuntimeError: a bug in a source"
    assert folder.new == 1


# --- the command line ---------------------------------------------------------------------------------------


@pytest.mark.usefixtures("engine")
def test_digest_ingest_and_status_show_each_source(
    digest: Digest, env: dict[str, str], feeds: FeedServer
) -> None:
    feeds.routes["/feed.json"] = conditional(
        json_feed(summary(1), summary(2, url="http://x.example.org")), etag='"1"'
    )
    feeds.routes["/down.xml"] = Slow(seconds=3)
    folder = Path(env["DIGEST_SOURCES"])
    write_summaries(folder, "week.json", summary(3))
    digest.env = {
        **env,
        "DIGEST_SOURCES": f"{feeds.url('/feed.json')},{feeds.url('/down.xml')},{folder}",
        "DIGEST_FEED_TIMEOUT": "1s",
    }

    first = digest("ingest")
    second = digest("ingest")
    status = digest("status").stdout

    assert first.stdout.splitlines() == [
        f"{feeds.url('/feed.json')}: 1 new, 0 updated, 0 unchanged, 1 rejected",
        f"{feeds.url('/down.xml')}: failed: timed out: no complete answer within 1s",
        f"{folder}: 1 new, 0 updated, 0 unchanged, 0 rejected",
    ]
    assert (
        f"rejected: {feeds.url('/feed.json')} item 2: summary test-002: url: must be an https://"
        in first.stderr
    )
    assert second.stdout.splitlines()[0] == f"{feeds.url('/feed.json')}: not modified since the last read"
    assert f"source {feeds.url('/feed.json')}: not modified since the last read (read " in status
    assert "source FAILING since " in status
    assert f"(2 reads in a row): {feeds.url('/down.xml')}: failed: timed out" in status
    assert f"source {folder}: 0 new, 0 updated, 1 unchanged, 0 rejected (read " in status
    assert "last ingest: failed" in status


@pytest.mark.usefixtures("engine")
def test_digest_ingest_fails_only_when_no_source_could_be_read(digest: Digest, env: dict[str, str]) -> None:
    digest.env = {**env, "DIGEST_SOURCES": "http://127.0.0.1:9/feed.json"}

    result = digest("ingest", ok=False)

    assert result.exit_code == 1
    assert result.stderr.strip() == "error: no source could be read"


@pytest.mark.usefixtures("engine")
def test_refetch_reads_every_feed_in_full(digest: Digest, env: dict[str, str], feeds: FeedServer) -> None:
    feeds.routes["/feed.json"] = conditional(json_feed(summary(1)), etag='"1"')
    digest.env = {**env, "DIGEST_SOURCES": feeds.url("/feed.json")}

    digest("ingest")
    cached = digest("ingest").stdout
    full = digest("ingest", "--refetch").stdout

    assert cached.strip().endswith("not modified since the last read")
    assert full.strip().endswith("0 new, 0 updated, 1 unchanged, 0 rejected")
    assert [(seen.status, seen.headers.get("if-none-match")) for seen in feeds.requests_to("/feed.json")] == [
        (200, None),
        (304, '"1"'),
        (200, None),
    ]
