"""Opens, on SQLite and PostgreSQL: a real issue sent through the CLI into the outbox with
``DIGEST_TRACK_OPENS=true``, its pixel fetched as readers' mail clients and privacy proxies would.

One pixel per render, in the HTML part only; a fetch answers a real GIF nobody may cache and appends an
``open`` row naming no reader; a privacy proxy's prefetch, an open right after the send and a scanner's
are set apart; HEAD, scanners' user agents and tampered tokens record nothing (and still get the GIF).
The report's open estimate is what was made. Previews and test copies carry no pixel, and say so.
"""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from fastapi.testclient import TestClient

from digest.config import Settings, load_settings
from digest.core.engagement import Tracking, tracking_notice
from digest.db.models import Engagement
from digest.engagement.opens import PIXEL_GIF
from digest.errors import ConfigError
from digest.i18n import language
from digest.issues.review import email_preview
from digest.tokens import OpenTokens, PixelOpen, Purpose
from digest.wiring import Parts
from tests.support import parts_of, read_outbox
from tests.support.cli import Digest
from tests.support.engagement import opens, pixels, send_with_note, tracked_links
from tests.support.web import BASE_URL, RELAXED, confirmed, digests, path_of

READERS = ["ann@example.org", "bob@example.org"]
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130 Safari/537.36"
PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko)"
APPLE_PROXY = "Mozilla/5.0"  # what Apple Mail Privacy Protection's image fetches send
GMAIL_PROXY = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"


@pytest.fixture
def opens_on(request: pytest.FixtureRequest) -> str:
    return str(getattr(request, "param", "true"))


@pytest.fixture
def env(env: dict[str, str], opens_on: str) -> dict[str, str]:
    return {**env, "DIGEST_TRACK_OPENS": opens_on}


@pytest.fixture
def web_env(web_env: dict[str, str]) -> dict[str, str]:
    return {**web_env, **RELAXED}


@pytest.fixture
def sent(client: TestClient, outbox: Path, digest: Digest, env: dict[str, str], parts: Parts) -> int:
    for reader in READERS:
        confirmed(client, outbox, reader)
    return send_with_note(digest, env, parts)


def fetch(client: TestClient, url: str, agent: str = BROWSER) -> None:
    answer = client.get(path_of(url), headers={"User-Agent": agent})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "image/gif"
    assert "no-store" in answer.headers["cache-control"]
    assert answer.content == PIXEL_GIF
    assert answer.content.startswith(b"GIF89a")


def later(minutes: int = 5) -> time_machine.travel:
    """The reader opens the email some minutes after it arrived (the clock of this process only)."""
    return time_machine.travel(datetime.now(UTC) + timedelta(minutes=minutes), tick=True)


def report(digest: Digest, number: int) -> dict[str, object]:
    found: dict[str, object] = json.loads(digest("report", str(number), "--json").stdout)["opens_estimate"]
    return found


def test_one_pixel_per_render_in_the_html_part_only(client: TestClient, sent: int, outbox: Path) -> None:
    ann, bob = (digests(outbox, reader)[0] for reader in READERS)
    in_html, in_text = pixels(ann)
    assert len(in_html) == 1
    assert in_text == []
    assert pixels(bob)[0] == in_html  # rendered once: every reader of the issue has the same pixel
    # Readers are told, in both parts and on the sign-up page.
    said = "an invisible image in each email counts how many were opened, without recording who opened them"
    assert all(said in " ".join(part.split()) for part in parts_of(ann))
    assert said in " ".join(client.get("/subscribe").text.split())


def test_the_report_estimates_the_opens_made_with_machines_apart(
    client: TestClient, parts: Parts, digest: Digest, sent: int, outbox: Path
) -> None:
    (pixel,), _ = pixels(digests(outbox, READERS[0])[0])
    fetch(client, pixel, APPLE_PROXY)  # Apple's proxy prefetches on delivery: set apart
    with later():
        fetch(client, pixel, BROWSER)  # ann reads it on her computer
        fetch(client, pixel, BROWSER)  # and again: one reader, two opens
        fetch(client, pixel, PHONE)  # bob on his phone
        fetch(client, pixel, GMAIL_PROXY)  # a Gmail reader: Google's proxy fetches when they open
    rows = opens(parts.engine)
    assert len(rows) == 5
    assert {(row.issue_number, row.source, row.summary_id, row.subscriber_id) for row in rows} == {
        (sent, "pixel", None, None)
    }
    estimate = report(digest, sent)
    assert estimate == {
        "unique": 3,
        "total": 4,
        "rate": 1.5,  # three visitors for two deliveries: an estimate, and says so
        "machine": 1,
        "machine_by_rule": {"proxy": 1},
    }
    table = digest("report", str(sent)).stdout
    assert "opens (estimate)      3" in table
    assert "machine opens set apart: 1" in table
    metrics = client.get("/metrics").text
    assert f'digest_issue_opens_estimate{{issue="{sent}"}} 4.0' in metrics
    assert f'digest_issue_machine_opens{{issue="{sent}"}} 1.0' in metrics


def test_opens_right_after_the_send_and_by_a_scanner_are_set_apart(
    client: TestClient, digest: Digest, sent: int, outbox: Path
) -> None:
    message = digests(outbox, READERS[0])[0]
    (pixel,), _ = pixels(message)
    fetch(client, pixel, PHONE)  # within a minute of the send: fetched on delivery
    scanner = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Edge/120"
    with later():
        fetch(client, pixel, scanner)
        for url in tracked_links(message)[0][:4]:  # then every link within a second: a scanner
            assert client.get(path_of(url), headers={"User-Agent": scanner}).status_code == 302
        fetch(client, pixel, BROWSER)
    assert report(digest, sent) == {
        "unique": 1,
        "total": 1,
        "rate": 0.5,
        "machine": 2,
        "machine_by_rule": {"prefetch": 1, "scanner": 1},
    }


def test_head_scanners_and_tampered_tokens_get_the_image_and_count_nothing(
    client: TestClient, parts: Parts, sent: int, outbox: Path
) -> None:
    (pixel,), _ = pixels(digests(outbox, READERS[0])[0])
    token = pixel.rsplit("/", 1)[1].removesuffix(".gif")
    answer = client.head(path_of(pixel), headers={"User-Agent": BROWSER})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "image/gif"
    for agent in ["Mozilla/5.0 (compatible; Barracuda Sentinel)", "curl/8.5.0", "Googlebot/2.1", ""]:
        fetch(client, pixel, agent)
    forged = [
        token[:-2] + ("AA" if not token.endswith("AA") else "BB"),  # its signature broken
        parts.tokens.sign(Purpose.unsubscribe, 1, "x"),  # a genuine token of another purpose
        tracked_links(digests(outbox, READERS[0])[0])[0][0].rsplit("/", 1)[1],  # a tracked link's
        "nothing",
    ]
    for bad in forged:
        fetch(client, f"{BASE_URL}/o/{bad}.gif")
    assert opens(parts.engine) == []
    fetch(client, pixel)
    assert len(opens(parts.engine)) == 1


def test_aggregate_opens_name_no_reader(client: TestClient, parts: Parts, sent: int, outbox: Path) -> None:
    (pixel,), _ = pixels(digests(outbox, READERS[0])[0])
    with later():
        fetch(client, pixel, BROWSER)
    (row,) = opens(parts.engine)
    stored = " ".join(str(getattr(row, name)) for name in Engagement.model_fields)
    for revealing in [*READERS, "testclient", BROWSER, "Chrome"]:
        assert revealing not in stored
    assert row.subscriber_id is None


def test_previews_and_test_copies_carry_no_pixel_and_say_so(
    client: TestClient, parts: Parts, digest: Digest, sent: int, outbox: Path
) -> None:
    digest("test-send", str(sent), "--to", "editor@example.org")
    copies = [m for m in read_outbox(outbox) if "[TEST]" in str(m["Subject"])]
    assert len(copies) == 1
    assert pixels(copies[0]) == ([], [])
    said = "Test copy: it has no open pixel, so opening it counts no open"
    assert all(said in " ".join(part.split()) for part in parts_of(copies[0]))
    assert "/o/" not in email_preview(parts.engine, sent, base_url=BASE_URL)


@pytest.mark.parametrize("opens_on", ["false"], indirect=True)
def test_without_opens_there_is_no_pixel_and_a_pixel_counts_nothing(
    client: TestClient, parts: Parts, sent: int, outbox: Path
) -> None:
    message = digests(outbox, READERS[0])[0]
    assert pixels(message) == ([], [])
    assert "/o/" not in parts_of(message)[1]
    assert all("were opened" not in part for part in parts_of(message))
    # A pixel of an email sent while opens were counted still answers with the image, uncounted.
    token = OpenTokens(parts.settings.signing_keys).sign(PixelOpen(sent))
    fetch(client, f"{BASE_URL}/o/{token}.gif")
    assert opens(parts.engine) == []


def test_opens_with_tracking_off_are_refused_at_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_TRACKING", "off")
    monkeypatch.setenv("DIGEST_TRACK_OPENS", "true")
    with pytest.raises(ConfigError, match=r"DIGEST_TRACK_OPENS: true needs tracking.*DIGEST_TRACKING=off"):
        load_settings()
    monkeypatch.setenv("DIGEST_TRACKING", "aggregate")
    assert Settings().track_opens is True


def test_the_notice_says_opens_are_counted_in_spanish_too() -> None:
    words = language("es").translations
    notice = tracking_notice(Tracking.aggregate, words=words, opens=True)
    assert "una imagen invisible en cada correo cuenta cuántos se abrieron" in notice
    assert tracking_notice(Tracking.aggregate, words=words) != notice
