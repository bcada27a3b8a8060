"""The public archive's use cases: published issues as anonymous readers see them, on the site's pages
(``/issues``, ``/issues/{number}``) and in the Atom feed (``/issues/feed.xml``).

Each function opens its own unit of work and returns plain values, never rows, so the web layer runs no
SQL. "Published" is the one definition in ``db.models.PUBLISHED`` (sending or sent): a draft, a held, an
approved or a cancelled issue is answered exactly as a missing one, so the archive tells nothing about
issues still being prepared.

An issue's page is built from its items in the order and selection the editor approved, with the same
view the email was rendered from (``compose.issue_view``), but without any subscriber's links or wording.
Its words are those sent: ingest never changes a summary that an approved or published issue holds.

May import ``digest.db``, ``digest.issues`` and ``digest.rendering``.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from digest.db.engine import unit_of_work
from digest.db.models import Issue
from digest.issues import queries
from digest.issues.compose import issue_view
from digest.rendering import IssueView

# How many of the newest issues the feed carries: feed readers only look for what is new.
FEED_SIZE = 20


@dataclass(frozen=True)
class ArchiveEntry:
    """One published issue in a list: the archive's index, a page's neighbours, a feed entry."""

    number: int
    subject: str
    preheader: str
    published_at: datetime  # when its send began
    updated_at: datetime  # when its send ended, or began while it is still going out


@dataclass(frozen=True)
class ArchivedIssue:
    """One published issue with what its page shows, and the published issues either side of it."""

    entry: ArchiveEntry
    view: IssueView
    previous: ArchiveEntry | None = None
    next: ArchiveEntry | None = None


def listing(engine: Engine) -> list[ArchiveEntry]:
    """Every published issue, newest first."""
    with unit_of_work(engine) as session:
        return [entry_of(row) for row in queries.published(session)]


def archived_issue(engine: Engine, number: int) -> ArchivedIssue | None:
    """Issue ``number`` as its public page shows it; None unless it is published."""
    with unit_of_work(engine) as session:
        issue = queries.published_issue(session, number)
        if issue is None:
            return None
        before, after = queries.published_neighbours(session, number)
        return ArchivedIssue(
            entry=entry_of(issue),
            view=issue_view(session, issue),
            previous=entry_of(before) if before else None,
            next=entry_of(after) if after else None,
        )


def feed(engine: Engine, *, size: int = FEED_SIZE) -> list[ArchivedIssue]:
    """The newest ``size`` published issues with their items, newest first (neighbours left out)."""
    with unit_of_work(engine) as session:
        return [
            ArchivedIssue(entry=entry_of(issue), view=issue_view(session, issue))
            for issue in queries.published(session, limit=size)
        ]


def entry_of(issue: Issue) -> ArchiveEntry:
    # A published issue has begun its send; created_at only stands in for rows from before that was kept.
    published_at = issue.send_started_at or issue.created_at
    return ArchiveEntry(
        issue.number, issue.subject, issue.preheader, published_at, issue.sent_at or published_at
    )
