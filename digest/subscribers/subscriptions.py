"""Joining and leaving: double opt-in, confirmation, one-click unsubscribe, data export and erasure.

No enumeration: ``request_subscription`` treats every address alike from the outside. What differs
(a confirmation, a rate-limited "already subscribed" notice, or nothing) is returned as a ``Notice`` that
the caller sends after the commit and after answering, so neither the answer nor its timing tells
whether the address was known. The database work is the same too: one insert-or-get, one look-up and
one update of the same columns, whatever the address's state (``SIGN_UP_COLUMNS``).
"""

import enum
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from digest.core.topics import EVERYTHING
from digest.db.models import (
    Delivery,
    Engagement,
    Issue,
    ProviderEvent,
    Subscriber,
    SubscriberState,
    Summary,
    Suppression,
)
from digest.subscribers.records import (
    Consent,
    consent_fields,
    existing_or_new,
    is_suppressed,
    normalise_address,
    record_consent,
    suppression_hash,
)
from digest.subscribers.topics import choose, chosen, encoded
from digest.tokens import Purpose, TokenClaims, TokenInvalid, Tokens


class NoticeKind(enum.StrEnum):
    confirm = "confirm"
    welcome = "welcome"
    already_subscribed = "already-subscribed"


@dataclass(frozen=True)
class Notice:
    """An email to send once the transaction has committed."""

    kind: NoticeKind
    subscriber_id: int
    email: str
    nonce: str


def notice(kind: NoticeKind, subscriber: Subscriber) -> Notice:
    return Notice(kind, subscriber.id or 0, subscriber.email, subscriber.token_nonce)


# The columns a sign-up may change. Every sign-up of a known address writes all of them, in one UPDATE of
# the same shape whatever the address's state (an active subscriber's get their own values back), so the
# database work before the answer does not tell an active address from a pending one.
SIGN_UP_COLUMNS = (
    "state",
    "consent_at",
    "consent_form",
    "consent_ip",
    "consent_user_agent",
    "consent_text_version",
    "timezone",
    "topics",
    "updated_at",
    "confirmation_sent_at",
    "notice_sent_at",
)


def request_subscription(
    session: Session,
    address: str,
    consent: Consent,
    *,
    now: datetime,
    resend_window: timedelta,
    topics: Sequence[str] = EVERYTHING,
) -> Notice | None:
    """Record a sign-up request; return the email it calls for, if any (see the module docstring).

    ``topics`` (checked by the caller) become the choice of a new, pending or returning subscriber. An
    active subscriber keeps theirs: anyone can type an address, so only their preferences link changes it.
    """
    subscriber = existing_or_new(session, normalise_address(address), now=now)
    row = {column: getattr(subscriber, column) for column in SIGN_UP_COLUMNS}
    due: NoticeKind | None = None
    if subscriber.state == SubscriberState.complained:
        pass  # they reported the digest as spam: never mailed again, not even a confirmation
    elif subscriber.state == SubscriberState.active:
        # Never downgrade an active subscriber; tell them, at most once per window.
        if not recently(subscriber.notice_sent_at, now, resend_window):
            row["notice_sent_at"], due = now, NoticeKind.already_subscribed
    else:
        if subscriber.state != SubscriberState.pending:  # an unsubscribed address must confirm again
            row["state"], row["confirmation_sent_at"] = SubscriberState.pending, None
        row.update(consent_fields(consent, now=now), topics=encoded(topics), updated_at=now)
        # A browser's zone becomes theirs; a form that cannot tell (no script) keeps the one known.
        row["timezone"] = consent.timezone or subscriber.timezone
        if not recently(row["confirmation_sent_at"], now, resend_window):  # list bombing: one per window
            row["confirmation_sent_at"], due = now, NoticeKind.confirm
    session.execute(update(Subscriber).where(col(Subscriber.id) == subscriber.id).values(row))
    return notice(due, subscriber) if due else None


def confirmation_due(subscriber: Subscriber, *, now: datetime, resend_window: timedelta) -> Notice | None:
    """The confirmation a pending subscriber is owed: at most one per ``resend_window`` (list bombing)."""
    if recently(subscriber.confirmation_sent_at, now, resend_window):
        return None
    subscriber.confirmation_sent_at = now
    return notice(NoticeKind.confirm, subscriber)


def recently(moment: datetime | None, now: datetime, window: timedelta) -> bool:
    return moment is not None and now - moment < window


def subscriber_for(session: Session, tokens: Tokens, purpose: Purpose, token: str) -> Subscriber:
    """The subscriber a genuine token names; ``TokenInvalid`` once they are erased or never existed."""
    return claimed(session, tokens, purpose, token)[0]


def claimed(session: Session, tokens: Tokens, purpose: Purpose, token: str) -> tuple[Subscriber, TokenClaims]:
    """``subscriber_for`` and what the token says."""
    claims = tokens.verify(purpose, token)
    subscriber = session.get(Subscriber, claims.subscriber_id)
    if subscriber is None or subscriber.token_nonce != claims.nonce or subscriber.erased_at is not None:
        raise TokenInvalid(f"this {purpose} link is no longer valid")
    return subscriber, claims


def confirm(
    session: Session, tokens: Tokens, token: str, *, now: datetime
) -> tuple[Subscriber, Notice | None]:
    """Activate a pending subscriber; confirming twice is harmless. Returns the welcome notice, if due."""
    subscriber = subscriber_for(session, tokens, Purpose.confirm, token)
    if subscriber.state == SubscriberState.active:
        return subscriber, None
    if subscriber.state != SubscriberState.pending:
        # They left after this link was sent: an old confirmation must not bring them back.
        raise TokenInvalid("this confirmation link is no longer valid; please subscribe again")
    subscriber.state = SubscriberState.active
    subscriber.confirmed_at = subscriber.updated_at = now
    session.add(subscriber)
    forget_suppression(session, subscriber.email)
    return subscriber, notice(NoticeKind.welcome, subscriber)


def unsubscribe(session: Session, subscriber: Subscriber, *, now: datetime) -> bool:
    """Stop all mail to ``subscriber`` at once; doing it again changes nothing. Whether it changed."""
    if subscriber.state in (SubscriberState.active, SubscriberState.pending):
        subscriber.state = SubscriberState.unsubscribed
        subscriber.unsubscribed_at = subscriber.updated_at = now
        subscriber.unsubscribe_recorded = False  # until the caller records the issue its link named
        session.add(subscriber)
        return True
    return False


def unsubscribe_once(session: Session, subscriber: Subscriber, *, now: datetime, recorded: bool) -> bool:
    """``unsubscribe`` as one conditional UPDATE: of two clicks at once (even on SQLite, where the read
    before it takes no lock) only one changes the state. Whether this one did; ``recorded``: the caller
    records the issue it came from (``leaving.py``)."""
    leaving = (
        update(Subscriber)
        .where(
            col(Subscriber.id) == subscriber.id,
            col(Subscriber.state).in_([SubscriberState.active, SubscriberState.pending]),
        )
        .values(
            state=SubscriberState.unsubscribed,
            unsubscribed_at=now,
            updated_at=now,
            unsubscribe_recorded=recorded,
        )
        .execution_options(synchronize_session=False)
    )
    changed = session.connection().execute(leaving).rowcount == 1
    session.refresh(subscriber)
    return changed


def rejoin(session: Session, subscriber: Subscriber, *, now: datetime) -> None:
    """From the preferences page: someone who left comes back; the link proves the mailbox is theirs."""
    if subscriber.state == SubscriberState.unsubscribed and subscriber.erased_at is None:
        subscriber.state = SubscriberState.active
        subscriber.unsubscribed_at = None
        subscriber.unsubscribe_recorded = False
        subscriber.updated_at = now
        session.add(subscriber)


def forget_suppression(session: Session, email: str) -> None:
    entry = session.exec(select(Suppression).where(Suppression.email_hash == suppression_hash(email))).first()
    if entry is not None:
        session.delete(entry)


def export(session: Session, subscriber: Subscriber) -> dict[str, Any]:
    """Everything digest keeps about a subscriber, as JSON-ready data."""
    deliveries = session.exec(
        select(Issue.number, Delivery.status, Delivery.sent_at)
        .join(Issue, col(Issue.id) == col(Delivery.issue_id))
        .where(Delivery.subscriber_id == subscriber.id)
        .order_by(col(Issue.number))
    )
    events = session.exec(
        select(ProviderEvent.event, ProviderEvent.occurred_at, ProviderEvent.reason, ProviderEvent.outcome)
        .where(ProviderEvent.subscriber_id == subscriber.id)
        .order_by(col(ProviderEvent.occurred_at))
    )

    def when(moment: datetime | None) -> str | None:
        return moment.isoformat() if moment else None

    return {
        "email": subscriber.email,
        "state": subscriber.state,
        "subscribed_at": when(subscriber.created_at),
        "confirmed_at": when(subscriber.confirmed_at),
        "unsubscribed_at": when(subscriber.unsubscribed_at),
        "topics": list(chosen(subscriber)),
        "topics_note": "the topics you chose; an empty list means every topic",
        "timezone": subscriber.timezone,
        "timezone_note": "the time zone you chose, in which the digest reaches you; null: the publisher's",
        "consent": {
            "at": when(subscriber.consent_at),
            "ip": subscriber.consent_ip,
            "user_agent": subscriber.consent_user_agent,
            "form": subscriber.consent_form,
            "consent_text_version": subscriber.consent_text_version,
        },
        "deliveries": [
            {"issue": number, "status": status, "sent_at": when(sent_at)}
            for number, status, sent_at in deliveries
        ],
        "provider_events": [
            {"event": event, "at": when(at), "reason": reason, "outcome": outcome}
            for event, at, reason, outcome in events
        ],
        "engagement": engagement_of(session, subscriber),
        "engagement_note": (
            "what you did with each issue: each click (on which summary, and which link), open and "
            "unsubscribe; kept only when the publisher says it tracks each reader, empty otherwise"
        ),
    }


def engagement_of(session: Session, subscriber: Subscriber) -> list[dict[str, Any]]:
    """The reader's clicks, opens and unsubscribes (rows name them under individual tracking only)."""
    engaged = session.execute(
        sa_select(
            col(Engagement.issue_number),
            col(Summary.title),
            col(Engagement.action),
            col(Engagement.kind),
            col(Engagement.at),
        )
        .outerjoin(Summary, col(Summary.id) == col(Engagement.summary_id))
        .where(col(Engagement.subscriber_id) == subscriber.id)
        .order_by(col(Engagement.at), col(Engagement.id))
    )
    return [
        {"issue": number, "summary": title, "at": at.isoformat(), "action": action, "link": kind or None}
        for number, title, action, kind, at in engaged
    ]


def erase(session: Session, subscriber: Subscriber, *, now: datetime) -> None:
    """Remove personal data; keep a hashed suppression entry so the address is not mailed again.

    The row stays (deliveries point to it) with every personal field cleared and a new token nonce, so
    every link sent to the address stops working. Signing up and confirming again lifts the suppression.
    """
    if subscriber.erased_at is not None:
        return
    if not is_suppressed(session, subscriber.email):
        session.add(
            Suppression(email_hash=suppression_hash(subscriber.email), reason="erased", created_at=now)
        )
    subscriber.email = f"erased-{subscriber.id}@invalid"
    subscriber.email_key = f"erased-{subscriber.id}@invalid"
    subscriber.state = SubscriberState.unsubscribed
    subscriber.token_nonce = secrets.token_hex(8)
    subscriber.unsubscribed_at = subscriber.unsubscribed_at or now
    record_consent(subscriber, Consent(form=""), now=now)
    subscriber.consent_at = None
    subscriber.consent_form = None
    choose(subscriber, EVERYTHING)
    subscriber.erased_at = subscriber.updated_at = now
    session.add(subscriber)
    # A bounce reason may quote the address; the events themselves stay, so a replay still counts once.
    session.execute(
        update(ProviderEvent).where(col(ProviderEvent.subscriber_id) == subscriber.id).values(reason=None)
    )
    # What they clicked and opened, under individual tracking: gone with them (counts drop with it).
    session.execute(delete(Engagement).where(col(Engagement.subscriber_id) == subscriber.id))
