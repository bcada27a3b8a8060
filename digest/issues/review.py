"""What the editor's pages read of an issue and the changes they make: one use case, one unit of work
each (and the number of the latest published issue, which notices link to). The preview is the stored
email filled exactly as ``decisions.preview`` fills it for ``digest preview`` too, so the pages cannot
drift from what is sent.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from digest.db.engine import unit_of_work
from digest.db.models import EditorialAction, Issue, IssueStatus
from digest.issues import decisions, editing, queries
from digest.issues import schedule as scheduling
from digest.issues.compose import TooOld, too_old_for
from digest.issues.editing import ItemRow
from digest.rendering import Renderer


@dataclass(frozen=True)
class IssueView:
    """One issue as the editor's issue page shows it."""

    number: int
    status: str
    subject: str
    preheader: str
    note: str
    items: list[ItemRow]
    trail: list[EditorialAction]
    html: str
    text: str
    too_old: TooOld
    send_at: datetime | None = None  # the issue's own send time, if an editor gave it one


@dataclass(frozen=True)
class Words:
    """The words an editor may change: the subject, the preheader and the note."""

    subject: str
    preheader: str
    note: str


def listing(engine: Engine) -> list[tuple[int, str, str, datetime]]:
    with unit_of_work(engine) as session:
        return queries.listing(session)


def issue_view(engine: Engine, number: int, *, base_url: str) -> IssueView:
    """Issue ``number`` with its items, audit trail and preview; ``NotFound`` when there is none."""
    with unit_of_work(engine) as session:
        issue = queries.get_issue(session, number)
        return IssueView(
            number=issue.number,
            status=str(issue.status),
            subject=issue.subject,
            preheader=issue.preheader,
            note=issue.note,
            items=editing.items_of(session, issue),
            trail=decisions.trail(session, issue),
            html=decisions.preview(issue, base_url=base_url),
            text=decisions.preview(issue, base_url=base_url, text=True),
            too_old=too_old_for(session, issue),
            send_at=issue.send_at,
        )


def email_preview(engine: Engine, number: int, *, base_url: str) -> str:
    """The stored email of issue ``number`` as a subscriber sees it, general links in place of theirs."""
    with unit_of_work(engine) as session:
        return decisions.preview(queries.get_issue(session, number), base_url=base_url)


def detached_issue(engine: Engine, number: int) -> Issue:
    """Issue ``number``, detached from the database (for a test copy)."""
    with unit_of_work(engine) as session:
        found = queries.get_issue(session, number)
        session.expunge(found)
        return found


def decide(engine: Engine, number: int, decision: IssueStatus, *, by: str, now: datetime) -> None:
    with unit_of_work(engine) as session:
        decisions.decide(session, number, decision, by=by, now=now)


def schedule(engine: Engine, number: int, at: datetime | None, *, zone: str, by: str, now: datetime) -> None:
    """Give issue ``number`` its own send time ``at`` (None: it goes with the next send)."""
    with unit_of_work(engine) as session:
        scheduling.schedule(session, number, at, zone=zone, by=by, now=now)


def arrange(
    engine: Engine,
    renderer: Renderer,
    number: int,
    order: Sequence[int],
    *,
    shown: Sequence[int],
    by: str,
    now: datetime,
) -> None:
    with unit_of_work(engine) as session:
        editing.arrange(session, renderer, number, list(order), by=by, now=now, shown=list(shown))


def edit_words(
    engine: Engine, renderer: Renderer, number: int, words: Words, *, by: str, now: datetime
) -> None:
    with unit_of_work(engine) as session:
        editing.edit_words(
            session,
            renderer,
            number,
            subject=words.subject,
            preheader=words.preheader,
            note=words.note,
            by=by,
            now=now,
        )


def record(engine: Engine, number: int, *, by: str, action: str, now: datetime, detail: str = "") -> None:
    """Add ``action`` to the audit trail of issue ``number``."""
    with unit_of_work(engine) as session:
        decisions.record(session, number, by=by, action=action, now=now, detail=detail)


def latest_published(engine: Engine) -> int | None:
    with unit_of_work(engine) as session:
        return queries.latest_published_number(session)
