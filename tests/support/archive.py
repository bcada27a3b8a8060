"""Issues for the archive's tests: composed under one site address, approved and sent in-process (the
real sender, into memory), a week apart, plus an approved and a draft issue that must stay private."""

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine

from digest.db.engine import unit_of_work
from digest.db.models import IssueStatus
from digest.ingest.summaries import ingest
from digest.issues.compose import compose
from digest.issues.decisions import decide
from digest.issues.editing import edit_words
from digest.mail import MemoryMailer
from digest.rendering import Renderer, SiteView
from digest.sources.folder import FolderSource
from tests.support import NOW, summary, write_summaries
from tests.support.sending import RULES, add_subscriber, make_sender

WEEK = timedelta(days=7)


@dataclass
class Archive:
    sent: list[int]  # oldest first
    approved: int  # approved, not sent
    draft: int


def publish_week(
    engine: Engine, folder: Path, week: int, *, base_url: str, send: bool = True, note: str = ""
) -> int:
    """Ingest two summaries dated in ``week``, compose an issue of them under ``base_url`` and, with
    ``send``, approve and send it to the active subscribers; return its number."""
    at = NOW + week * WEEK
    renderer = write_week(engine, folder, week, base_url=base_url)
    with unit_of_work(engine) as session:
        issue = compose(session, renderer, RULES, now=at)
        assert issue is not None
        number = issue.number
        if note:
            words = {"subject": issue.subject, "preheader": issue.preheader, "note": note}
            edit_words(session, renderer, number, **words, by="editor", now=at)
        if send:
            decide(session, number, IssueStatus.approved, by="editor", now=at)
    if send:
        make_sender(engine, MemoryMailer(), at=at + timedelta(minutes=5)).send(number)
    return number


def write_week(engine: Engine, folder: Path, week: int, *, base_url: str, **changes: str) -> Renderer:
    """Write (or rewrite, with ``changes`` to the week's lead summary) the two summaries of ``week`` and
    ingest them, as the publisher's source would; the renderer used."""
    at = NOW + week * WEEK
    items = [summary(10 * week + n, published_at=at - timedelta(hours=n)) for n in (1, 2)]
    items[0].update(changes)
    write_summaries(folder, f"week-{week}.json", items)
    renderer = Renderer(SiteView(base_url=base_url, postal_address="1 Example Street"))
    ingest(engine, [FolderSource(folder)], renderer, now=at + timedelta(minutes=1 if changes else 0))
    return renderer


def build_archive(engine: Engine, folder: Path, *, base_url: str) -> Archive:
    """Three sent issues (the second with an editor's note), then one approved and one draft."""
    add_subscriber(engine, "reader@example.org")
    sent = [
        publish_week(engine, folder, week, base_url=base_url, note="A *short* note." if week == 1 else "")
        for week in range(3)
    ]
    approved = publish_week(engine, folder, 3, base_url=base_url, send=False)
    with unit_of_work(engine) as session:
        decide(session, approved, IssueStatus.approved, by="editor", now=NOW + 3 * WEEK)
    draft = publish_week(engine, folder, 4, base_url=base_url, send=False)
    return Archive(sent=sent, approved=approved, draft=draft)
