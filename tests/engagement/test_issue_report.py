"""``digest report``: the counts equal the clicks readers made on the received emails, on SQLite and
PostgreSQL; a scanner following every link within a second is set apart; topics rank by unique clicks
per delivered email."""

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from digest.wiring import Parts
from tests.support.cli import Digest
from tests.support.engagement import NOTE_URL, click, destinations, send_with_note, tracked_links
from tests.support.web import RELAXED, confirmed, digests

READERS = ["ann@example.org", "bob@example.org", "cy@example.org"]
ANN = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Version/17.5 Safari/605.1.15"
BOB = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/130.0 Mobile Safari/537.36"
# Safe Links and its kind fetch with an ordinary browser's user agent: only the burst gives them away.
SCANNER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/130.0 Safari/537.36 Edg/130.0"


def page(n: int) -> str:
    return f"https://summaries.example.org/s/test-{n}"


def doi(n: int) -> str:
    return f"https://doi.org/10.1136/bmj.test{n}"


@pytest.fixture
def web_env(web_env: dict[str, str]) -> dict[str, str]:
    return {**web_env, **RELAXED}


@pytest.fixture
def clicked(client: TestClient, outbox: Path, digest: Digest, env: dict[str, str], parts: Parts) -> int:
    """Issue sent to three readers; two click, a scanner follows every link of the third's email."""
    for reader in READERS:
        confirmed(client, outbox, reader)
    number = send_with_note(digest, env, parts)
    ann, bob, cy = (digests(outbox, reader)[0] for reader in READERS)
    to = destinations(client, ann)
    # Ann opens summary 1 (from "In this issue"), then again (its headline), then summary 2's study.
    click(client, to[page(1)][0], ANN)
    click(client, to[page(1)][0], ANN)
    click(client, to[doi(2)][0], ANN)
    # Bob reads the note's link and summary 3.
    to_bob = destinations(client, bob)
    click(client, to_bob[NOTE_URL][0], BOB)
    click(client, to_bob[page(3)][0], BOB)
    for url in tracked_links(cy)[0]:  # every link of the message within a second: a scanner
        click(client, url, SCANNER)
    return number


def test_the_report_counts_the_clicks_readers_made(clicked: int, digest: Digest, client: TestClient) -> None:
    report = json.loads(digest("report", str(clicked), "--json").stdout)
    assert report["issue"] == clicked
    assert report["delivered"] == 3
    assert report["clicks"] == {"unique": 2, "total": 5}
    assert report["machine_clicks"] == 13
    assert report["click_rate"] == round(2 / 3, 4)
    assert report["note_clicks"] == 1
    by_title = {row["title"]: row for row in report["summaries"]}
    assert [(row["unique"], row["total"], row["doi"]) for row in by_title.values()] == [
        (1, 2, 0),
        (1, 1, 1),
        (1, 1, 0),
    ]
    topics = {row["topic"]: (row["unique"], row["total"]) for row in report["topics"]}
    assert topics == {"cardiology": (2, 3), "nutrition": (1, 1)}
    assert report["movement"][0] == {"hours": 1, "clicks": 5, "unique": 2, "unsubscribed": 0}
    assert (report["unsubscribed"], report["bounced"], report["complained"]) == (0, 0, 0)

    exposed = client.get("/metrics").text
    for line in (
        ("delivered", "3.0"),
        ("readers_clicked", "2.0"),
        ("clicks", "5.0"),
        ("machine_clicks", "13.0"),
    ):
        assert f'digest_issue_{line[0]}{{issue="{clicked}"}} {line[1]}' in exposed

    table = digest("report", str(clicked)).stdout
    assert "delivered             3" in table
    assert "(66.7 % of delivered)" in table
    assert "machine clicks set apart: 13" in table


def test_topics_rank_by_unique_clicks_per_delivered_email(clicked: int, digest: Digest) -> None:
    ranks = json.loads(digest("report", "--topics", "--json").stdout)
    assert [(rank["topic"], rank["unique_clicks"], rank["delivered"]) for rank in ranks] == [
        ("cardiology", 2, 3),
        ("nutrition", 1, 3),
    ]
    assert "cardiology" in digest("report", "--topics").stdout.splitlines()[1]


def test_report_of_an_issue_that_does_not_exist(clicked: int, digest: Digest) -> None:
    result = digest("report", "99", ok=False)
    assert result.exit_code == 1
    assert "there is no issue 99" in result.stderr
