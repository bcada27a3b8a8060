"""SendGrid's own open and click events, counted once with the redirect's and the pixel's, on SQLite and
PostgreSQL: an issue sent through the CLI and the SendGrid stand-in, then the signed webhook posting
events shaped like SendGrid's documented examples (``corpora/sendgrid``) about its deliveries.

The rule (``core/provider_counts.py``): a click on one of our tracked links is the redirect's, not
counted again; a click on a link of the issue's content that is not tracked counts; anything else
(unsubscribe, view in browser) does not; an open counts only while our pixel is off; a repeated event
counts once; an event naming no delivery (a test copy) never counts. Nothing names a reader.
"""

import copy
import json
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from fastapi.testclient import TestClient
from sqlmodel import col, select

from digest.db.engine import unit_of_work
from digest.db.models import Engagement, ProviderEvent
from digest.devtools.sendgrid_standin import SendGridStandIn
from digest.web.app import create_app
from digest.wiring import Parts
from tests.support import CORPORA
from tests.support.cli import Digest
from tests.support.engagement import TRACKED, clicks, send_with_note
from tests.support.sendgrid import KEY, SPEC
from tests.support.web import BASE_URL, path_of
from tests.support.webhook import PUBLIC_KEY, SIGNATURE, TIMESTAMP, sign

READERS = ["ann@example.org", "bob@example.org"]
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130 Safari/537.36"
EXAMPLES = json.loads((CORPORA / "sendgrid" / "event_webhook_per_event_examples.json").read_text("utf-8"))


@pytest.fixture
def settings(request: pytest.FixtureRequest) -> dict[str, str]:
    return dict(getattr(request, "param", {}))


@pytest.fixture
def env(env: dict[str, str], settings: dict[str, str]) -> dict[str, str]:
    return {**env, **settings}


@pytest.fixture
def web_env(web_env: dict[str, str]) -> dict[str, str]:
    return {**web_env, "DIGEST_SENDGRID_WEBHOOK_PUBLIC_KEY": PUBLIC_KEY}


@pytest.fixture
def sent(
    digest: Digest, env: dict[str, str], parts: Parts, tmp_path: Path
) -> tuple[int, str, dict[str, str]]:
    """An issue sent through SendGrid: its number, its HTML and each reader's delivery custom arg."""
    for reader in READERS:
        digest("subscribers", "add", reader, "--confirmed")
    with SendGridStandIn(KEY, SPEC, tmp_path / "accepted.jsonl") as sendgrid:
        env.update(
            DIGEST_EMAIL_BACKEND="sendgrid", DIGEST_SENDGRID_API_KEY=KEY, DIGEST_SENDGRID_HOST=sendgrid.url
        )
        number = send_with_note(digest, env, parts)
        (body,) = list(sendgrid.bodies)
    html = next(part["value"] for part in body["content"] if part["type"] == "text/html")
    custom = {p["to"][0]["email"]: p["custom_args"]["delivery"] for p in body["personalizations"]}
    assert set(custom) == set(READERS)
    return number, html, custom


_ids = iter(range(1, 10**9))


def event(kind: str, email: str, delivery: str | None, **fields: Any) -> dict[str, Any]:
    """SendGrid's documented example of ``kind`` about ``email``'s delivery, some minutes after now (a
    minute apart from the last: a person reads between two links)."""
    (example,) = copy.deepcopy(EXAMPLES["examples"][kind])
    number = next(_ids)
    example.update(
        email=email, timestamp=int(time.time()) + 600 + 60 * number, sg_event_id=f"evt-{number}", **fields
    )
    if delivery is not None:
        example["delivery"] = delivery
    return dict(example)


def post(client: TestClient, events: list[dict[str, Any]]) -> dict[str, int]:
    raw = json.dumps(events).encode()
    stamp = str(int(time.time()))
    answer = client.post(
        "/webhooks/sendgrid", content=raw, headers={TIMESTAMP: stamp, SIGNATURE: sign(raw, stamp)}
    )
    assert answer.status_code == 200, answer.text
    found: dict[str, int] = answer.json()
    return found


def report(digest: Digest, number: int) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(digest("report", str(number), "--json").stdout)
    return found


def test_sendgrid_clicks_on_tracked_links_do_not_double_the_redirects_count(
    client: TestClient, parts: Parts, digest: Digest, sent: tuple[int, str, dict[str, str]]
) -> None:
    number, html, delivery = sent
    link = TRACKED.findall(html)[0]
    assert client.get(path_of(link), headers={"User-Agent": BROWSER}).status_code == 302  # ann, via SendGrid
    events = [
        event("click", READERS[0], delivery[READERS[0]], url=link),  # SendGrid saw the same click
        event(
            "click", READERS[1], delivery[READERS[1]], url=f"{BASE_URL}/issues/{number}"
        ),  # view in browser
        event("click", READERS[1], delivery[READERS[1]], url=f"{BASE_URL}/unsubscribe"),
    ]
    assert post(client, events)["new"] == 3
    assert post(client, events[:1]) == {"received": 1, "new": 0, "duplicates": 1, "malformed": 0}
    figures = report(digest, number)
    assert figures["clicks"] == {"unique": 1, "total": 1}
    assert [row.source for row in clicks(parts.engine)] == ["redirect"]


@pytest.mark.parametrize("settings", [{"DIGEST_TRACKING": "off"}], indirect=True)
def test_sendgrid_clicks_on_untracked_links_count_once_tracking_is_on(
    client: TestClient,
    parts: Parts,
    digest: Digest,
    sent: tuple[int, str, dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An issue sent while tracking was off has untracked links: SendGrid's clicks on them count nothing
    while tracking stays off (the footer promised readers so), and once per click after the publisher
    turns tracking on, when no redirect of ours can see them."""
    number, html, delivery = sent
    assert TRACKED.findall(html) == []
    events = [
        event("click", READERS[0], delivery[READERS[0]], url="https://summaries.example.org/s/test-1"),
        event("click", READERS[0], delivery[READERS[0]], url="https://doi.org/10.1136/bmj.test1"),
        event("click", READERS[1], delivery[READERS[1]], url="https://research.example.org/methods?x=1&y=2"),
        event("click", READERS[1], None, url="https://summaries.example.org/s/test-2"),  # a test copy's
        event(  # a link scanner, as SendGrid reports it
            "click",
            READERS[1],
            delivery[READERS[1]],
            url="https://summaries.example.org/s/test-2",
            useragent="Mozilla/5.0 (compatible; Barracuda Sentinel)",
        ),
    ]
    assert post(client, events[:3])["new"] == 3  # kept as events, counted as nothing
    assert clicks(parts.engine) == []
    assert report(digest, number)["clicks"]["total"] == 0

    monkeypatch.setenv("DIGEST_TRACKING", "aggregate")
    later = Parts.from_environment()
    try:
        with TestClient(create_app(later), base_url=BASE_URL, follow_redirects=False) as tracking_on:
            fresh = [{**e, "sg_event_id": f"{e['sg_event_id']}-on"} for e in events]
            post(tracking_on, fresh)
            post(tracking_on, fresh)  # SendGrid sends them again: nothing more
    finally:
        later.close()
    figures = report(digest, number)
    assert figures["clicks"]["total"] == 3
    assert figures["note_clicks"] == 1
    first = next(row for row in figures["summaries"] if row["total"])
    assert (first["total"], first["doi"]) == (2, 1)
    rows = clicks(parts.engine)
    assert {(row.source, row.kind) for row in rows} == {
        ("sendgrid", "page"),
        ("sendgrid", "doi"),
        ("sendgrid", "note"),
    }
    assert all(row.subscriber_id is None for row in rows)


def test_sendgrid_opens_count_while_the_pixel_is_off_and_name_no_one(
    client: TestClient, parts: Parts, digest: Digest, sent: tuple[int, str, dict[str, str]]
) -> None:
    number, _, delivery = sent
    events = [
        event("open", READERS[0], delivery[READERS[0]]),
        event("open", READERS[1], delivery[READERS[1]], sg_machine_open=True, useragent="Mozilla/5.0"),
        event("open", READERS[0], None),  # a test copy's
    ]
    post(client, events)
    post(client, events[:2])
    figures = report(digest, number)["opens_estimate"]
    assert (figures["total"], figures["machine"], figures["machine_by_rule"]) == (1, 1, {"proxy": 1})
    with unit_of_work(parts.engine) as session:
        kept = list(session.exec(select(ProviderEvent).where(col(ProviderEvent.event) == "open")))
        rows = list(session.exec(select(Engagement)))
    assert len(kept) == 3
    assert {(e.email_hash, e.subscriber_id, e.delivery_id) for e in kept} == {("", None, None)}
    assert [e.issue_number for e in kept].count(number) == 2
    for row in rows:
        stored = " ".join(str(getattr(row, name)) for name in Engagement.model_fields)
        assert not any(revealing in stored for revealing in [*READERS, "255.255.255.255", "MSIE"])


@pytest.mark.parametrize("settings", [{"DIGEST_TRACK_OPENS": "true"}], indirect=True)
def test_sendgrid_opens_do_not_count_beside_our_pixel(
    client: TestClient, digest: Digest, sent: tuple[int, str, dict[str, str]]
) -> None:
    number, html, delivery = sent
    (pixel,) = re.findall(rf"{re.escape(BASE_URL)}/o/[A-Za-z0-9_\-.]+\.gif", html)  # in SendGrid's body
    with time_machine.travel(datetime.now(UTC) + timedelta(minutes=5), tick=True):  # read a while later
        assert client.get(path_of(pixel), headers={"User-Agent": BROWSER}).content.startswith(b"GIF89a")
    post(client, [event("open", reader, delivery[reader]) for reader in READERS])
    assert report(digest, number)["opens_estimate"]["total"] == 1  # the pixel's: SendGrid's not again
