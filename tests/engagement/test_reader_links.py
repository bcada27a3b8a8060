"""Per-reader tracked links (``/r/{token}/{tag}``), on SQLite and PostgreSQL: the first part of
``DIGEST_TRACKING=individual`` (issue 17).

A real issue is sent into the outbox; its links are followed with a reader's tag appended, as the send
will fill them in under ``individual``. The tag must be genuine and name the link's issue, or the reader
gets the link-problem page and nothing is recorded. Under ``aggregate`` a tagged link still leads where it
did but the stored click names nobody; a recorder for ``individual`` stores the reader's id.
"""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from digest.db.models import Summary
from digest.engagement.clicks import ClickRecorder, Visit
from digest.tokens import ClickTokens, Reader, ReaderTags, TokenInvalid
from digest.wiring import Parts
from tests.support.cli import Digest
from tests.support.engagement import clicks, send_with_note, tracked_links
from tests.support.web import confirmed, digests, path_of, subscriber

READER = "ann@example.org"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130 Safari/537.36"


def sent_link(client: TestClient, outbox: Path, digest: Digest, env: dict[str, str], parts: Parts) -> str:
    confirmed(client, outbox, READER)
    send_with_note(digest, env, parts)
    return path_of(tracked_links(digests(outbox, READER)[0])[0][0])


def test_a_tagged_link_leads_where_the_link_does_and_aggregate_names_nobody(
    client: TestClient, outbox: Path, digest: Digest, env: dict[str, str], parts: Parts
) -> None:
    path = sent_link(client, outbox, digest, env, parts)
    issue = parts.click_tokens.read(path.rsplit("/", 1)[1]).issue
    found = subscriber(parts.engine, READER)
    assert found is not None
    assert found.id is not None
    tag = ReaderTags(parts.settings.signing_keys).sign(Reader(issue, found.id))
    plain = client.get(path, headers={"User-Agent": BROWSER})
    tagged = client.get(f"{path}/{tag}", headers={"User-Agent": BROWSER})
    assert tagged.status_code == plain.status_code == 302
    assert tagged.headers["location"] == plain.headers["location"]
    rows = clicks(parts.engine)
    assert len(rows) == 2
    assert all(row.subscriber_id is None for row in rows)  # aggregate: the tag is not stored


def test_a_tampered_or_foreign_tag_gets_the_link_problem_page(
    client: TestClient, outbox: Path, digest: Digest, env: dict[str, str], parts: Parts
) -> None:
    path = sent_link(client, outbox, digest, env, parts)
    issue = parts.click_tokens.read(path.rsplit("/", 1)[1]).issue
    tags = ReaderTags(parts.settings.signing_keys)
    genuine = tags.sign(Reader(issue, 7))
    forged = [
        genuine.replace("7.", "8.", 1),  # another subscriber's id under this one's signature
        genuine[:-2] + ("AA" if not genuine.endswith("AA") else "BB"),  # its signature broken
        tags.sign(Reader(issue + 1, 7)),  # genuine, but from another issue's email
        ReaderTags(["another key"]).sign(Reader(issue, 7)),  # signed by a key this site never had
    ]
    for bad in forged:
        answer = client.get(f"{path}/{bad}", headers={"User-Agent": BROWSER})
        assert answer.status_code == 400, bad
        assert "location" not in answer.headers
        assert "This link does not work" in answer.text
    assert clicks(parts.engine) == []


def test_under_individual_a_click_stores_its_reader_and_tags_are_their_own_tokens(
    client: TestClient, outbox: Path, digest: Digest, env: dict[str, str], parts: Parts
) -> None:
    link_token = sent_link(client, outbox, digest, env, parts).rsplit("/", 1)[1]
    link = parts.click_tokens.read(link_token)
    keys = parts.settings.signing_keys
    tags = ReaderTags(keys)
    tag = tags.sign(Reader(issue=link.issue, subscriber=42))
    assert tags.read(tag, issue=link.issue) == Reader(issue=link.issue, subscriber=42)
    for other in (link_token, f"42.{link.issue}"):  # a link token, an unsigned tag
        with pytest.raises(TokenInvalid):
            tags.read(other, issue=link.issue)
    with pytest.raises(TokenInvalid):
        ClickTokens(keys).read(tag)  # nor does a tag pass for a link token

    now = datetime.now(UTC)
    visit = Visit(address="192.0.2.1", user_agent=BROWSER)
    individual = ClickRecorder(parts.engine, keys[-1], individual=True)
    assert individual.record(link, visit, at=now)  # a link without a tag (a test copy) names nobody
    assert individual.record(link, visit, at=now, subscriber=42)
    assert sorted(row.subscriber_id or 0 for row in clicks(parts.engine)) == [0, 42]


def test_the_readers_export_shows_their_clicks_and_erasing_them_removes_them(
    client: TestClient, outbox: Path, digest: Digest, env: dict[str, str], parts: Parts
) -> None:
    sent_link(client, outbox, digest, env, parts)
    links = [
        parts.click_tokens.read(url.rsplit("/", 1)[1]) for url in tracked_links(digests(outbox, READER)[0])[0]
    ]
    link = next(link for link in links if link.summary is not None)
    found = subscriber(parts.engine, READER)
    assert found is not None
    recorder = ClickRecorder(parts.engine, parts.settings.signing_keys[-1], individual=True)
    visit = Visit(address="192.0.2.1", user_agent=BROWSER)
    at = datetime.now(UTC)
    recorder.record(link, visit, at=at, subscriber=found.id)
    recorder.record(link, visit, at=at)  # someone's click naming nobody: it stays
    [clicked] = json.loads(digest("subscribers", "export", READER).stdout)["engagement"]
    assert clicked["issue"] == link.issue
    assert clicked["action"] == "click"
    assert clicked["link"] == str(link.kind)
    assert clicked["at"].startswith(at.date().isoformat())
    with Session(parts.engine) as session:
        shown = session.get(Summary, link.summary)
        assert shown is not None
        assert clicked["summary"] == shown.title

    digest("subscribers", "erase", READER)
    assert [row.subscriber_id for row in clicks(parts.engine)] == [None]


def test_under_individual_the_report_counts_distinct_subscribers_exactly_and_says_so(
    client: TestClient, outbox: Path, digest: Digest, env: dict[str, str], parts: Parts
) -> None:
    link = parts.click_tokens.read(sent_link(client, outbox, digest, env, parts).rsplit("/", 1)[1])
    before = json.loads(digest("report", str(link.issue), "--json").stdout)
    assert before["readers_counted"].endswith("an estimate.")
    recorder = ClickRecorder(parts.engine, parts.settings.signing_keys[-1], individual=True)
    at = datetime.now(UTC)
    # One reader from phone and laptop (two visitors), another from one: two readers, three clicks.
    for address, reader in (("192.0.2.1", 42), ("192.0.2.2", 42), ("192.0.2.3", 43)):
        recorder.record(link, Visit(address=address, user_agent=BROWSER), at=at, subscriber=reader)
    report = json.loads(digest("report", str(link.issue), "--json").stdout)
    assert report["clicks"] == {"unique": 2, "total": 3}
    assert (
        report["readers_counted"]
        == "Readers are distinct subscribers, counted exactly (individual tracking)."
    )
    assert "counted exactly" in digest("report", str(link.issue)).stdout
