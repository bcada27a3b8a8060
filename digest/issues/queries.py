"""Issue lookups: which issue a command or a page means. Queries take a session and never commit."""

from datetime import datetime

from sqlalchemy import inspect
from sqlalchemy.orm import defer
from sqlmodel import Session, col, or_, select
from sqlmodel.sql.expression import SelectOfScalar

from digest.db.models import (
    PUBLISHED,
    Issue,
    IssueStatus,
)
from digest.errors import NotFound


def get_issue(session: Session, number: int) -> Issue:
    issue = session.exec(select(Issue).where(Issue.number == number)).first()
    if issue is None:
        raise NotFound(f"there is no issue {number}")
    return issue


def next_issue_to_send(session: Session, *, now: datetime | None = None) -> Issue | None:
    """An interrupted send first, then the oldest approved issue; a paused send waits for ``--resume``.

    Given ``now``, an approved issue scheduled for later (``send_at``) waits for its time.
    """
    for status in (IssueStatus.sending, IssueStatus.approved):
        query = (
            select(Issue)
            .where(Issue.status == status, col(Issue.paused_reason).is_(None))
            .order_by(col(Issue.number))
        )
        if now is not None and status == IssueStatus.approved:
            query = query.where(or_(col(Issue.send_at).is_(None), col(Issue.send_at) <= now))
        issue = session.exec(query).first()
        if issue is not None:
            return issue
    return None


def next_scheduled(session: Session, *, now: datetime) -> Issue | None:
    """The approved issue that goes out next at a time an editor gave, if that time is still to come."""
    query = (
        select(Issue)
        .where(Issue.status == IssueStatus.approved, col(Issue.send_at) > now)
        .order_by(col(Issue.send_at))
    )
    return session.exec(query).first()


def awaiting_approval(session: Session) -> Issue | None:
    """The oldest draft or held issue: nothing goes out until an editor approves it."""
    query = (
        select(Issue)
        .where(col(Issue.status).in_([IssueStatus.draft, IssueStatus.held]))
        .order_by(col(Issue.number))
    )
    return session.exec(query).first()


def sending_issue(session: Session) -> Issue | None:
    """The oldest send under way and not paused: what a worker helps with."""
    query = (
        select(Issue)
        .where(Issue.status == IssueStatus.sending, col(Issue.paused_reason).is_(None))
        .order_by(col(Issue.number))
    )
    return session.exec(query).first()


def paused_issue(session: Session) -> Issue | None:
    query = select(Issue).where(col(Issue.paused_reason).is_not(None)).order_by(col(Issue.number))
    return session.exec(query).first()


def published_rows() -> SelectOfScalar[Issue]:
    """Published issues, their stored email (``html``, ``text``: most of a row) left unloaded, for lists
    and a page's neighbours, which show only numbers, words and dates."""
    stored_email = (inspect(Issue).attrs[name].class_attribute for name in ("html", "text"))
    return select(Issue).where(col(Issue.status).in_(PUBLISHED)).options(*map(defer, stored_email))


def published(session: Session, *, limit: int | None = None) -> list[Issue]:
    """Every published issue (or the newest ``limit``), newest first."""
    return list(session.exec(published_rows().order_by(col(Issue.number).desc()).limit(limit)))


def published_neighbours(session: Session, number: int) -> tuple[Issue | None, Issue | None]:
    """The published issues just before and just after issue ``number`` (drafts and held ones skipped)."""
    before = published_rows().where(Issue.number < number).order_by(col(Issue.number).desc())
    after = published_rows().where(Issue.number > number).order_by(col(Issue.number))
    return session.exec(before).first(), session.exec(after).first()


def published_issue(session: Session, number: int) -> Issue | None:
    """Issue ``number`` if it is published; None for a draft, a held issue or no issue at all."""
    if not 0 < number < 2**31:  # beyond the column's range there is no issue (and no database error)
        return None
    query = select(Issue).where(Issue.number == number, col(Issue.status).in_(PUBLISHED))
    return session.exec(query).first()


def latest_published_number(session: Session) -> int | None:
    query = select(Issue.number).where(col(Issue.status).in_(PUBLISHED)).order_by(col(Issue.number).desc())
    return session.exec(query).first()


def listing(session: Session) -> list[tuple[int, str, str, datetime]]:
    """Every issue's number, subject, status and creation time, newest first: the editor's list, which
    needs four columns, not each issue's stored email."""
    columns = select(Issue.number, Issue.subject, Issue.status, Issue.created_at)
    rows = session.exec(columns.order_by(col(Issue.number).desc()))
    return [(number, subject, str(status), created) for number, subject, status, created in rows]
