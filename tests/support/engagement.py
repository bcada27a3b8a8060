"""Helpers for the engagement tests: an issue sent with DOIs and a linked note, its tracked links, the
clicks the database holds."""

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import col, select

from digest.db.engine import unit_of_work
from digest.db.models import Engagement, Issue
from digest.issues.editing import edit_words
from digest.wiring import Parts
from tests.support import parts_of, summary, write_summaries
from tests.support.cli import Digest

BASE_URL = "https://digest.example.org"
TRACKED = re.compile(rf"{re.escape(BASE_URL)}/r/[A-Za-z0-9_\-.]+")
NOTE = "Welcome back. Our method is at [the methods page](https://research.example.org/methods?x=1&y=2)."
NOTE_URL = "https://research.example.org/methods?x=1&y=2"


def studies(first: int, count: int) -> list[dict[str, Any]]:
    """``count`` new summaries, each citing its study by DOI, on two topics between them."""
    now = datetime.now(UTC)
    return [
        summary(
            n,
            published_at=now - timedelta(milliseconds=n - first),
            source={"journal": "BMJ", "doi": f"10.1136/bmj.test{n}"},
            topics=["Cardiology"] if n % 2 else ["Nutrition"],
        )
        for n in range(first, first + count)
    ]


def send_with_note(digest: Digest, env: dict[str, str], parts: Parts, first: int = 1, count: int = 3) -> int:
    """Ingest, compose, write the editor's note (with a link), approve and send through the CLI."""
    write_summaries(Path(env["DIGEST_SOURCES"]), f"batch-{first}.json", studies(first, count))
    digest("ingest")
    found = re.search(r"composed issue (\d+)", digest("compose").stdout)
    assert found
    number = int(found.group(1))
    with unit_of_work(parts.engine) as session:
        issue = edit_words(
            session, parts.renderer, number, subject="This week", preheader="", note=NOTE, by="ada",
            now=datetime.now(UTC),
        )  # fmt: skip
        assert issue.note == NOTE
    digest("approve", str(number))
    assert " sent" in digest("send", str(number)).stdout
    return number


def tracked_links(message: EmailMessage) -> tuple[list[str], list[str]]:
    """The tracked links of a digest's HTML and text parts, in order."""
    plain, html = parts_of(message)
    return TRACKED.findall(html), TRACKED.findall(plain)


def hrefs(message: EmailMessage) -> list[str]:
    _, html = parts_of(message)
    return [unquote(href).replace("&amp;", "&") for href in re.findall(r'href="([^"]+)"', html)]


def clicks(engine: Engine, where: Callable[[Engagement], bool] = lambda row: True) -> list[Engagement]:
    with unit_of_work(engine) as session:
        rows = session.exec(select(Engagement).order_by(col(Engagement.id)))
        return [row for row in rows if where(row)]


def destinations(client: TestClient, message: EmailMessage) -> dict[str, list[str]]:
    """Each address the digest's tracked links lead to, with the tracked links that lead there; asked
    with HEAD, which the redirect answers and never counts."""
    found: dict[str, list[str]] = {}
    for url in dict.fromkeys(tracked_links(message)[0]):
        answer = client.head(url.removeprefix(BASE_URL))
        assert answer.status_code == 302
        found.setdefault(answer.headers["location"], []).append(url)
    return found


def click(client: TestClient, url: str, agent: str) -> None:
    answer = client.get(url.removeprefix(BASE_URL), headers={"User-Agent": agent})
    assert answer.status_code == 302, answer.text


PIXEL = re.compile(rf"{re.escape(BASE_URL)}/o/[A-Za-z0-9_\-.]+\.gif")


def pixels(message: EmailMessage) -> tuple[list[str], list[str]]:
    """The open pixels of a digest's HTML and text parts."""
    plain, html = parts_of(message)
    return PIXEL.findall(html), PIXEL.findall(plain)


def opens(engine: Engine) -> list[Engagement]:
    return clicks(engine, lambda row: row.action == "open")


def sent_earlier(engine: Engine, number: int, minutes: int = 10) -> None:
    """Date issue ``number``'s send ``minutes`` back: its emails arrived a while ago, so an open now is
    no fetch on delivery (for tests whose other process, a browser, keeps the real clock)."""
    with unit_of_work(engine) as session:
        issue = session.exec(select(Issue).where(Issue.number == number)).one()
        assert issue.send_started_at is not None
        issue.send_started_at -= timedelta(minutes=minutes)
        session.add(issue)
