"""Tracked links, on SQLite and PostgreSQL: a real issue sent through the CLI into the outbox, its links
followed as a reader's mail client would.

Under ``aggregate`` (the default) each summary's page, its DOI, the "In this issue" list and the note's
link lead through ``/r/{token}``, which answers 302 to the address the issue holds and records the click
with nothing that names the reader; unsubscribe, preferences and view-in-browser stay as they are. A
tampered or foreign token gets the link-problem page, never a redirect. ``off`` leaves every link as
written. HEAD requests and scanners' user agents are answered but never counted.
"""

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from digest.core.engagement import LinkKind
from digest.db.models import Engagement
from digest.devtools.sendgrid_standin import SendGridStandIn
from digest.tokens import Purpose
from digest.wiring import Parts
from tests.support import parts_of
from tests.support.cli import Digest
from tests.support.engagement import NOTE_URL, TRACKED, clicks, hrefs, send_with_note, tracked_links
from tests.support.sendgrid import KEY, SPEC
from tests.support.web import BASE_URL, RELAXED, confirmed, digests, link_in, path_of, subscriber

READERS = ["ann@example.org", "bob@example.org"]
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130 Safari/537.36"


@pytest.fixture
def tracking(request: pytest.FixtureRequest) -> str:
    return str(getattr(request, "param", "aggregate"))


@pytest.fixture
def env(env: dict[str, str], tracking: str) -> dict[str, str]:
    return {**env, "DIGEST_TRACKING": tracking}


@pytest.fixture
def web_env(web_env: dict[str, str]) -> dict[str, str]:
    return {**web_env, **RELAXED}


@pytest.fixture
def sent(client: TestClient, outbox: Path, digest: Digest, env: dict[str, str], parts: Parts) -> int:
    for reader in READERS:
        confirmed(client, outbox, reader)
    return send_with_note(digest, env, parts)


def follow(client: TestClient, url: str, agent: str = BROWSER) -> str:
    answer = client.get(path_of(url), headers={"User-Agent": agent})
    assert answer.status_code == 302, answer.text
    assert answer.headers["cache-control"] == "no-store"
    return str(answer.headers["location"])


def test_every_content_link_leads_through_a_redirect_to_the_issues_own_address(
    client: TestClient, parts: Parts, sent: int, outbox: Path
) -> None:
    message = digests(outbox, READERS[0])[0]
    in_html, in_text = tracked_links(message)
    # 3 summaries: "In this issue", headline, "Read the full summary" and DOI each, and the note's link.
    assert len(in_html) == 3 * 4 + 1
    assert set(in_text) == set(in_html)  # the text twin links the same addresses
    # Rendered once for the issue: both readers got the same tracked links.
    assert tracked_links(digests(outbox, READERS[1])[0])[0] == in_html

    targets = [follow(client, url) for url in in_html]
    summaries = {f"https://summaries.example.org/s/test-{n}" for n in (1, 2, 3)}
    dois = {f"https://doi.org/10.1136/bmj.test{n}" for n in (1, 2, 3)}
    assert set(targets) == summaries | dois | {NOTE_URL}

    # The links that are not the issue's content are untouched.
    assert link_in(message, "unsubscribe").startswith(f"{BASE_URL}/unsubscribe/")
    assert f"{BASE_URL}/issues/{sent}" in hrefs(message)

    # The footer says which tracking applies, in both parts, and so does the sign-up page.
    said = "pass through our site, which counts clicks per summary without recording who clicked"
    assert all(said in " ".join(part.split()) for part in parts_of(message))
    assert said in client.get("/subscribe").text

    rows = clicks(parts.engine)
    assert len(rows) == len(in_html)
    assert {row.issue_number for row in rows} == {sent}
    assert {row.kind for row in rows} == {LinkKind.page, LinkKind.doi, LinkKind.note}
    (note,) = [row for row in rows if row.kind == LinkKind.note]
    assert note.summary_id is None


def test_aggregate_stores_nothing_that_names_a_reader(
    client: TestClient, parts: Parts, sent: int, outbox: Path
) -> None:
    for reader in READERS:
        for url in tracked_links(digests(outbox, reader)[0])[0][:2]:
            follow(client, url)
    rows = clicks(parts.engine)
    assert len(rows) == 4
    ids = {found.id for found in (subscriber(parts.engine, reader) for reader in READERS) if found}
    assert len(ids) == 2
    for row in rows:
        assert row.subscriber_id is None
        stored = " ".join(str(getattr(row, name)) for name in Engagement.model_fields)
        for revealing in [*READERS, "testclient", BROWSER, "Chrome"]:
            assert revealing not in stored
    assert len({row.visitor for row in rows}) == 1  # one client, one issue, one day: one visitor


@pytest.mark.parametrize("tracking", ["off"], indirect=True)
def test_off_leaves_every_link_as_written(client: TestClient, parts: Parts, sent: int, outbox: Path) -> None:
    message = digests(outbox, READERS[0])[0]
    assert tracked_links(message) == ([], [])
    assert all("/o/" not in part for part in parts_of(message))  # no open pixel either
    links = hrefs(message)
    assert "https://summaries.example.org/s/test-1" in links
    assert "https://doi.org/10.1136/bmj.test1" in links
    assert NOTE_URL in links
    assert clicks(parts.engine) == []
    said = "go straight to their pages: we do not count who reads or clicks"
    assert all(said in " ".join(part.split()) for part in parts_of(message))
    assert said in client.get("/subscribe").text


def test_a_tampered_or_foreign_token_gets_the_link_problem_page(
    client: TestClient, parts: Parts, sent: int, outbox: Path
) -> None:
    url = tracked_links(digests(outbox, READERS[0])[0])[0][0]
    token = url.rsplit("/", 1)[1]
    forged = [
        token[:-2] + ("AA" if not token.endswith("AA") else "BB"),  # its signature broken
        parts.tokens.sign(Purpose.unsubscribe, 1, "x"),  # a genuine token of another purpose
        "evil.example",
    ]
    for bad in forged:
        answer = client.get(f"/r/{bad}", headers={"User-Agent": BROWSER})
        assert answer.status_code == 400
        assert "location" not in answer.headers
        assert "This link does not work" in answer.text
    assert clicks(parts.engine) == []


def test_head_requests_and_scanners_are_answered_but_never_counted(
    client: TestClient, parts: Parts, sent: int, outbox: Path
) -> None:
    url = path_of(tracked_links(digests(outbox, READERS[0])[0])[0][0])
    assert client.head(url, headers={"User-Agent": BROWSER}).status_code == 302
    for agent in ["Mozilla/5.0 (compatible; Barracuda Sentinel)", "curl/8.5.0", "Googlebot/2.1", ""]:
        assert client.get(url, headers={"User-Agent": agent}).status_code == 302
    assert clicks(parts.engine) == []
    follow(client, "https://digest.example.org" + url)
    assert len(clicks(parts.engine)) == 1


def test_links_of_an_issue_sent_through_sendgrid_are_tracked_and_counted(
    client: TestClient, parts: Parts, digest: Digest, env: dict[str, str], tmp_path: Path
) -> None:
    for reader in READERS:
        digest("subscribers", "add", reader, "--confirmed")
    with SendGridStandIn(KEY, SPEC, tmp_path / "accepted.jsonl") as sendgrid:
        env.update(
            DIGEST_EMAIL_BACKEND="sendgrid", DIGEST_SENDGRID_API_KEY=KEY, DIGEST_SENDGRID_HOST=sendgrid.url
        )
        number = send_with_note(digest, env, parts)
        bodies: list[dict[str, Any]] = list(sendgrid.bodies)
    assert sorted(line["email"] for line in sendgrid.recorded()) == READERS
    (body,) = bodies  # one render, one shared body for both readers
    html = next(part["value"] for part in body["content"] if part["type"] == "text/html")
    links = sorted(set(TRACKED.findall(html)))
    assert len(links) == 7  # three pages, three DOIs, the note's link
    # Every link followed within a second or two: what a scanner does, so these are set apart.
    targets = {follow(client, url) for url in links}
    assert "https://doi.org/10.1136/bmj.test2" in targets
    assert NOTE_URL in targets
    follow(client, links[0], agent="Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Safari/604.1")
    report = json.loads(digest("report", str(number), "--json").stdout)
    assert report["delivered"] == 2
    assert report["clicks"] == {"unique": 1, "total": 1}
    assert report["machine_clicks"] == 7
