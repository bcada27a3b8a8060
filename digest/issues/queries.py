"""Issue lookups: which issue a command or a page means. Queries take a session and never commit."""

from sqlmodel import Session, col, select

from digest.db.models import (
    Issue,
    IssueStatus,
)
from digest.errors import NotFound


def get_issue(session: Session, number: int) -> Issue:
    issue = session.exec(select(Issue).where(Issue.number == number)).first()
    if issue is None:
        raise NotFound(f"there is no issue {number}")
    return issue


def next_issue_to_send(session: Session) -> Issue | None:
    """An interrupted send first, then the oldest approved issue; a paused send waits for ``--resume``."""
    for status in (IssueStatus.sending, IssueStatus.approved):
        query = (
            select(Issue)
            .where(Issue.status == status, col(Issue.paused_reason).is_(None))
            .order_by(col(Issue.number))
        )
        issue = session.exec(query).first()
        if issue is not None:
            return issue
    return None


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
