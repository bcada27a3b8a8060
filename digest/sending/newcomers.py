"""``digest send N --newcomers``: an issue that went out, sent to the readers who became active since.

Its audience was fixed when its send started, so whoever became active later (confirmed, came back,
imported) has no delivery of it. Adding newcomers writes one delivery for each of them, with the variant
their topics select (those stored already reused, a new one rendered and stored as a send's start does),
and moves the issue back to ``sending`` until they have it. The ledger's one delivery per (issue,
subscriber) keeps it exactly-once: someone who has a delivery of the issue, whatever its state, gets no
other, however often or from however many processes this runs. Newcomers are not in waves: they get it now.
"""

from datetime import datetime

from sqlalchemy import exists, update
from sqlmodel import Session, col, func, select

from digest.db.models import Delivery, Issue, IssueStatus, Subscriber, SubscriberState
from digest.errors import InvalidState
from digest.rendering import Renderer
from digest.sending import ledger, variants
from digest.sending.counts import delivery_counts
from digest.subscribers.topics import tally

OPEN_TO_NEWCOMERS = (IssueStatus.sent, IssueStatus.sending)


def newcomer_choices(session: Session, issue_id: int) -> dict[tuple[str, ...], int]:
    """The topic choices of active subscribers who have no delivery of the issue, and how many made each."""
    delivered = exists().where(
        col(Delivery.issue_id) == issue_id, col(Delivery.subscriber_id) == col(Subscriber.id)
    )
    rows = session.exec(
        select(Subscriber.topics, func.count())
        .where(Subscriber.state == SubscriberState.active, ~delivered)
        .group_by(col(Subscriber.topics))
    )
    return tally(rows)


def add_newcomers(session: Session, renderer: Renderer, issue: Issue, *, now: datetime) -> int:
    """Write a delivery of ``issue`` for each newcomer and reopen its send; how many were added."""
    if issue.status not in OPEN_TO_NEWCOMERS:
        raise InvalidState(
            f"issue {issue.number} is {issue.status}: only an issue that went out has newcomers; "
            f"send it first (`digest send {issue.number}`)"
        )
    choices = newcomer_choices(session, issue.id or 0)
    if not choices:
        return 0
    before = delivery_counts(session, issue.id or 0)
    for audience in variants.fix(session, renderer, issue, choices, now=now):
        ledger.write_audience(session, issue.id or 0, audience, now=now)
    added = sum(delivery_counts(session, issue.id or 0).values()) - sum(before.values())
    if added:
        session.execute(
            update(Issue)
            .where(col(Issue.id) == issue.id, col(Issue.status) == IssueStatus.sent)
            .values(status=IssueStatus.sending, updated_at=now)
        )
    return added
