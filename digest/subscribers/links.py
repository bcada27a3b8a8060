"""What a subscriber's personal links and the sign-up form do: one use case, one unit of work each.

A link's token is its only authority: each use case first finds the subscriber it names and raises
``TokenInvalid`` when there is none (forged, expired, spent, or the subscriber erased); the web layer
answers that with one page. A notice owed (a confirmation, a welcome) comes back to the caller, to be sent
after the commit.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from digest.core.engagement import Tracking
from digest.core.zones import checked_zone
from digest.db.engine import unit_of_work
from digest.db.models import Subscriber, SubscriberState
from digest.errors import InvalidInput
from digest.subscribers import records, subscriptions, topics
from digest.subscribers.leaving import LeftBy, record_leaving
from digest.subscribers.records import Consent
from digest.subscribers.subscriptions import Notice
from digest.tokens import Purpose, Tokens


@dataclass(frozen=True)
class Holder:
    """Whom a link names, as its page shows them."""

    email: str
    state: str


@dataclass(frozen=True)
class Preferences:
    """The preferences page: the subscriber's data, the topics they may tick, and what to tell them:
    ``notice`` names what was done (``NOTICES``; the page words it in its language) with ``values`` to
    fill in, ``error`` is why nothing was saved. ``erased``: they asked for their data to be erased and
    it is."""

    data: dict[str, Any]
    topics: list[str]
    notice: str = ""
    values: dict[str, str] = field(default_factory=dict)
    error: str = ""
    erased: bool = False


# What a change tells the subscriber, by name: the web layer holds the words, in every language.
NOTICES = (
    "confirm-erasure",
    "every-topic",
    "these-topics",
    "publisher-zone",
    "own-zone",
    "left",
    "back",
)


@dataclass(frozen=True)
class Change:
    """A button pressed on the preferences page: ``topics``, ``timezone``, ``leave``, ``rejoin`` or
    ``erase``."""

    action: str
    picked: Sequence[str] = ()
    confirmed: bool = False
    zone: str = ""  # an IANA time zone; empty: the publisher's


def on_offer(engine: Engine, offer: topics.Offer, *, now: datetime) -> list[str]:
    with unit_of_work(engine) as session:
        return offer.topics(session, now=now)


def holder(engine: Engine, tokens: Tokens, purpose: Purpose, token: str) -> Holder:
    with unit_of_work(engine) as session:
        subscriber = subscriptions.subscriber_for(session, tokens, purpose, token)
        return Holder(subscriber.email, subscriber.state)


def unsubscribe(
    engine: Engine,
    tokens: Tokens,
    token: str,
    *,
    now: datetime,
    by: LeftBy = LeftBy.link,
    tracking: Tracking = Tracking.aggregate,
) -> None:
    """Unsubscribe whom the link names; when that changes their state and the link names its issue,
    record which issue they left from (``leaving.py``)."""
    with unit_of_work(engine) as session:
        subscriber, claims = subscriptions.claimed(session, tokens, Purpose.unsubscribe, token)
        named = claims.issue is not None
        if subscriptions.unsubscribe_once(session, subscriber, now=now, recorded=named) and claims.issue:
            record_leaving(session, subscriber, claims.issue, by, tracking, now=now)


def data(engine: Engine, tokens: Tokens, token: str) -> dict[str, Any]:
    """Everything kept about the subscriber, for their download."""
    with unit_of_work(engine) as session:
        subscriber = subscriptions.subscriber_for(session, tokens, Purpose.preferences, token)
        return subscriptions.export(session, subscriber)


def preferences(
    engine: Engine, tokens: Tokens, token: str, offer: topics.Offer, *, now: datetime
) -> Preferences:
    with unit_of_work(engine) as session:
        subscriber = subscriptions.subscriber_for(session, tokens, Purpose.preferences, token)
        return Preferences(
            subscriptions.export(session, subscriber), choosable(session, subscriber, offer, now)
        )


def change_preferences(
    engine: Engine,
    tokens: Tokens,
    token: str,
    change: Change,
    offer: topics.Offer,
    *,
    now: datetime,
    publisher_zone: str,
    tracking: Tracking = Tracking.aggregate,
) -> Preferences:
    """Do what the preferences page's button asks; "Leave" from an email's link counts for its issue."""
    with unit_of_work(engine) as session:
        subscriber, claims = subscriptions.claimed(session, tokens, Purpose.preferences, token)
        choices = choosable(session, subscriber, offer, now)
        if change.action == "erase":
            if not change.confirmed:
                data = subscriptions.export(session, subscriber)
                return Preferences(data, choices, notice="confirm-erasure")
            subscriptions.erase(session, subscriber, now=now)
            return Preferences({}, [], erased=True)
        notice, values, error = "", dict[str, str](), ""
        try:
            if change.action == "leave":
                notice, values = leave(session, subscriber, claims.issue, tracking, now)
            else:
                notice, values = apply(session, subscriber, change, choices, now, publisher_zone)
        except InvalidInput as exc:
            error = str(exc)
        data = subscriptions.export(session, subscriber)
        return Preferences(data, choices, notice, values, error)


def choosable(session: Session, subscriber: Subscriber, offer: topics.Offer, now: datetime) -> list[str]:
    """The topics on offer and those ``subscriber`` chose: a topic no summary carries any more stays
    on their page, ticked, until they untick it."""
    return sorted({*offer.topics(session, now=now), *topics.chosen(subscriber)})


def apply(
    session: Session,
    subscriber: Subscriber,
    change: Change,
    choices: Sequence[str],
    now: datetime,
    publisher_zone: str,
) -> tuple[str, dict[str, str]]:
    """Do what the button pressed asks; return what to tell the subscriber (one of ``NOTICES``, or
    nothing) and the values it names."""
    if change.action == "topics":
        topics.choose(subscriber, change.picked, allowed=choices)
        subscriber.updated_at = now
        session.add(subscriber)
        chosen = topics.chosen(subscriber)
        return ("these-topics", {"topics": ", ".join(chosen)}) if chosen else ("every-topic", {})
    if change.action == "timezone":
        subscriber.timezone = checked_zone(change.zone)
        subscriber.updated_at = now
        session.add(subscriber)
        if subscriber.timezone is None:
            return "publisher-zone", {"zone": publisher_zone}
        return "own-zone", {"zone": subscriber.timezone}
    if change.action == "rejoin" and subscriber.state == SubscriberState.unsubscribed:
        subscriptions.rejoin(session, subscriber, now=now)
        return "back", {}
    return "", {}


def leave(
    session: Session, subscriber: Subscriber, issue: int | None, tracking: Tracking, now: datetime
) -> tuple[str, dict[str, str]]:
    """ "Leave" on the preferences page: when the page's link came in issue ``issue``'s email and this
    changes the subscriber's state, record that they left from that issue (``leaving.py``)."""
    if subscriptions.unsubscribe_once(session, subscriber, now=now, recorded=issue is not None) and issue:
        record_leaving(session, subscriber, issue, LeftBy.preferences, tracking, now=now)
    return "left", {}


def confirm(engine: Engine, tokens: Tokens, token: str, *, now: datetime) -> Notice | None:
    """Activate the pending subscriber the link names; the welcome notice when one is due."""
    with unit_of_work(engine) as session:
        _, notice = subscriptions.confirm(session, tokens, token, now=now)
        return notice


def sign_up(
    engine: Engine,
    email: str,
    consent: Consent,
    *,
    now: datetime,
    resend_window: timedelta,
    choice: Sequence[str],
) -> Notice | None:
    """Record a sign-up; the confirmation notice when one is due (to send after this commit)."""
    with unit_of_work(engine) as session:
        return subscriptions.request_subscription(
            session, email, consent, now=now, resend_window=resend_window, topics=choice
        )


def add_confirmed(
    engine: Engine, email: str, consent: Consent, *, now: datetime, choice: Sequence[str]
) -> None:
    """Add a subscriber whose consent another system proved (the sign-up API): active at once, in
    ``consent``'s time zone. ``InvalidInput`` for an address that was erased or reported spam."""
    with unit_of_work(engine) as session:
        records.add(
            session, email, confirmed=True, consent=consent, now=now, topics=choice, timezone=consent.timezone
        )
