"""Provider events (SendGrid's Event Webhook): what the provider learns about an address changes its state.

- ``bounce`` of type ``bounce`` (or none given): the subscriber is ``bounced`` at once. Type ``blocked``:
  only after ``blocked_in_a_row`` of their latest delivery outcomes are all blocks.
- ``dropped`` because the address bounced or is invalid: ``bounced``; because it reported spam:
  ``complained``; because it unsubscribed: ``unsubscribed``. Other drops are about the message, not the
  address, and change only the delivery.
- ``spamreport``: ``complained``, never mailed again.
- ``unsubscribe``, ``group_unsubscribe``: ``unsubscribed``.
- ``processed``, ``deferred``, ``delivered``, bounces and drops update the delivery named by the event's
  ``delivery`` custom arg, when that delivery was to the same address.

Why it is safe to receive anything twice, late, or out of order:
- Each event is inserted once by its ``sg_event_id`` (``ON CONFLICT DO NOTHING``): a duplicate changes
  nothing, even when two requests carry it at once.
- States only move towards the stronger (active/pending < unsubscribed < bounced < complained), so the
  order of arrival does not matter; an event older than the subscriber's latest confirmation is about an
  earlier subscription and is kept without effect.
- A delivery's provider status only moves forward (processed < deferred < a final outcome), and between
  final outcomes the later event wins.

Events for addresses digest does not know are kept (hashed address only) and change nothing.

``open`` and ``click`` (the provider's own tracking) change no state: they are kept naming no one and
counted once, or not, by the rule of ``core/provider_counts.py`` (``subscribers/engaged.py``).

Without SendGrid the SMTP server's own refusals stand in for its bounce events (``smtp_answer``): a
recipient refused for good is a ``bounce``, one refused for now (4xx) or by policy a ``blocked`` bounce,
recorded and applied here by the same rules, one event per delivery attempt. A retried message the
server then takes is recorded as ``delivered``: a greylisting server's one 4xx per issue never adds up to
a run of blocks.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Table, update
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from digest.core.events import EventIn, kept_text
from digest.core.provider_counts import ENGAGEMENT_EVENTS
from digest.db.engine import dialect_insert, unit_of_work
from digest.db.models import Delivery, Issue, ProviderEvent, Subscriber, SubscriberState
from digest.errors import DatabaseError, InvalidInput
from digest.subscribers import engaged
from digest.subscribers.engaged import EngagementCounting
from digest.subscribers.records import address_key, normalise_address, suppression_hash

EVENTS: Table = ProviderEvent.__table__  # type: ignore[attr-defined]

STRENGTH = {
    SubscriberState.pending: 0,
    SubscriberState.active: 0,
    SubscriberState.unsubscribed: 1,
    SubscriberState.bounced: 2,
    SubscriberState.complained: 3,
}
DELIVERY_STEP = {"processed": 1, "deferred": 2, "delivered": 3, "bounced": 3, "blocked": 3, "dropped": 3}
# The events that tell how a message to an address ended: what "in a row" counts over.
OUTCOME_EVENTS = ("delivered", "bounce", "dropped")
LOCK_CHUNK = 1_000  # subscriber keys per locking query
# SendGrid's reasons for dropping a message that are about the address itself.
DROPPED_FOR = {
    "bounced address": SubscriberState.bounced,
    "invalid": SubscriberState.bounced,
    "invalid address": SubscriberState.bounced,
    "spam reporting address": SubscriberState.complained,
    "unsubscribed address": SubscriberState.unsubscribed,
}


@dataclass
class EventsReport:
    received: int = 0
    new: int = 0
    duplicates: int = 0
    malformed: int = 0
    outcomes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "new": self.new,
            "duplicates": self.duplicates,
            "malformed": self.malformed,
        }


def receive(
    engine: Engine,
    events: list[EventIn],
    *,
    received: int,
    now: datetime,
    blocked_in_a_row: int,
    counting: EngagementCounting | None = None,
) -> EventsReport:
    """Keep and apply one webhook request's events (``received`` of them sent, the others malformed) in
    one unit of work; ``DatabaseError`` when the database cannot take them now (down or busy), so the
    provider sends them again."""
    try:
        with unit_of_work(engine) as session:
            return record_events(
                session,
                events,
                received=received,
                now=now,
                blocked_in_a_row=blocked_in_a_row,
                counting=counting,
            )
    except SQLAlchemyError as exc:
        raise DatabaseError(f"could not store the events: {str(exc).splitlines()[0]}") from exc


def record_events(
    session: Session,
    events: list[EventIn],
    *,
    received: int,
    now: datetime,
    blocked_in_a_row: int,
    counting: EngagementCounting | None = None,
) -> EventsReport:
    """Keep and apply every new event of one webhook request, oldest first (``received``: how many the
    request carried, malformed ones included); opens and clicks counted by ``counting``'s rule."""
    report = EventsReport(received=received, malformed=received - len(events))
    apply_all(session, events, report, now=now, blocked_in_a_row=blocked_in_a_row, counting=counting)
    return report


def smtp_answer(
    email: str, bounce: str | None, reply: str, *, delivery_id: int, attempt: int, now: datetime
) -> EventIn:
    """The event an SMTP server's answer to one delivery attempt stands for (see the module): a bounce
    of type ``bounce``, or ``delivered`` (``bounce`` None) when a retried message was taken at last."""
    return EventIn(
        event_id=f"smtp:delivery-{delivery_id}:attempt-{attempt}",
        event="bounce" if bounce else "delivered",
        email=email,
        occurred_at=now,
        bounce_type=bounce,
        reason=kept_text(reply, 1000),
        delivery_id=delivery_id,
    )


def record_answers(
    session: Session, refusals: list[EventIn], *, now: datetime, blocked_in_a_row: int
) -> EventsReport:
    """Keep and apply the SMTP answers of one batch, as ``record_events`` does a webhook's events."""
    report = EventsReport(received=len(refusals))
    apply_all(session, refusals, report, now=now, blocked_in_a_row=blocked_in_a_row)
    return report


def apply_all(
    session: Session,
    events: list[EventIn],
    report: EventsReport,
    *,
    now: datetime,
    blocked_in_a_row: int,
    counting: EngagementCounting | None = None,
) -> None:
    subscribers = lock_subscribers(session, {key_of(event.email) for event in events})
    # Ties broken by id: two requests carrying the same events insert them in the same order.
    for event in sorted(events, key=lambda event: (event.occurred_at, event.event_id)):
        subscriber = subscribers.get(key_of(event.email))
        # A reading of an email is kept naming no one: no address hash, no subscriber, no delivery.
        reading = event.event in ENGAGEMENT_EVENTS
        event_row = insert_once(session, event, subscriber, now=now, anonymous=reading)
        if event_row is None:
            report.duplicates += 1
            continue
        report.new += 1
        if reading:
            outcome, number = engaged.count(session, event, subscriber, counting)
            changes = {"outcome": outcome[:100], "issue_number": number}
            session.connection().execute(update(EVENTS).where(EVENTS.c.id == event_row).values(changes))
        else:
            outcome = apply(session, event, event_row, subscriber, now=now, blocked_in_a_row=blocked_in_a_row)
        report.outcomes.append(outcome)


def key_of(email: str) -> str:
    """The subscriber key an event's address would have (an invalid address keeps its own spelling)."""
    try:
        return address_key(normalise_address(email))
    except InvalidInput:
        return address_key(email)


def lock_subscribers(session: Session, keys: set[str]) -> dict[str, Subscriber]:
    """The subscribers with these keys, locked until the commit (PostgreSQL) so that two requests about
    one address apply one after the other.

    All are locked before any event is applied, in one fixed order (by key; PostgreSQL locks the rows of
    ``ORDER BY ... FOR UPDATE`` in that order): two requests naming the same people in different orders
    then wait for each other instead of deadlocking.
    """
    ordered = sorted(keys)
    found: dict[str, Subscriber] = {}
    for start in range(0, len(ordered), LOCK_CHUNK):
        query = (
            select(Subscriber)
            .where(col(Subscriber.email_key).in_(ordered[start : start + LOCK_CHUNK]))
            .order_by(col(Subscriber.email_key))
            .with_for_update()
        )
        found.update((subscriber.email_key, subscriber) for subscriber in session.exec(query))
    return found


def insert_once(
    session: Session, event: EventIn, subscriber: Subscriber | None, *, now: datetime, anonymous: bool = False
) -> int | None:
    """Insert the event; None when its id was seen before (by this request or any other). ``anonymous``:
    keep neither the address's hash nor the subscriber."""
    values = {
        "provider_event_id": event.event_id,
        "event": event.event,
        "bounce_type": event.bounce_type,
        "email_hash": "" if anonymous else suppression_hash(event.email),
        "subscriber_id": subscriber.id if subscriber and not anonymous else None,
        "reason": event.reason,
        "outcome": "received",
        "occurred_at": event.occurred_at,
        "received_at": now,
    }
    statement = (
        dialect_insert(session, EVENTS)
        .values(values)
        .on_conflict_do_nothing(index_elements=["provider_event_id"])
        .returning(EVENTS.c.id)
    )
    inserted = session.connection().execute(statement).scalar()
    return int(inserted) if inserted is not None else None


def apply(
    session: Session,
    event: EventIn,
    event_row: int,
    subscriber: Subscriber | None,
    *,
    now: datetime,
    blocked_in_a_row: int,
) -> str:
    """Change what the event calls for; record on its row what that was."""
    changes: dict[str, Any] = {}
    if subscriber is None:
        outcome = "unknown address: kept, ignored"
    elif subscriber.confirmed_at is not None and event.occurred_at < subscriber.confirmed_at:
        outcome = "older than the subscriber's latest confirmation: kept, ignored"
    else:
        delivery = delivery_for(session, event, subscriber)
        notes = [update_delivery(delivery, event)] if delivery is not None else []
        if delivery is not None:
            changes.update(delivery_id=delivery.id, issue_number=issue_number(session, delivery))
        target = target_state(session, event, subscriber, blocked_in_a_row=blocked_in_a_row)
        if target is not None:
            notes.append(move(session, subscriber, target, now=now))
        outcome = "; ".join(note for note in notes if note) or "kept"
    changes["outcome"] = outcome[:100]
    session.connection().execute(update(EVENTS).where(EVENTS.c.id == event_row).values(changes))
    return outcome


def delivery_for(session: Session, event: EventIn, subscriber: Subscriber) -> Delivery | None:
    """The delivery the event's custom args name, if it was to this subscriber."""
    if event.delivery_id is None:
        return None
    delivery = session.get(Delivery, event.delivery_id)
    if delivery is None or delivery.subscriber_id != subscriber.id:
        return None
    return delivery


def issue_number(session: Session, delivery: Delivery) -> int | None:
    issue = session.get(Issue, delivery.issue_id)
    return issue.number if issue else None


def update_delivery(delivery: Delivery, event: EventIn) -> str | None:
    status = provider_status(event)
    if status is None:
        return None
    current = delivery.provider_status
    if current is not None and delivery.provider_event_at is not None:
        step, current_step = DELIVERY_STEP[status], DELIVERY_STEP.get(current, 0)
        later = event.occurred_at >= delivery.provider_event_at
        if step < current_step or (step == current_step and not later):
            return None  # an older or lesser event arriving late changes nothing
    delivery.provider_status = status
    delivery.provider_event_at = event.occurred_at
    return f"delivery {status}"


def provider_status(event: EventIn) -> str | None:
    if event.event == "bounce":
        return "blocked" if event.bounce_type == "blocked" else "bounced"
    return event.event if event.event in DELIVERY_STEP else None


def target_state(
    session: Session, event: EventIn, subscriber: Subscriber, *, blocked_in_a_row: int
) -> SubscriberState | None:
    if event.event == "spamreport":
        return SubscriberState.complained
    if event.event in ("unsubscribe", "group_unsubscribe"):
        return SubscriberState.unsubscribed
    if event.event == "dropped":
        return DROPPED_FOR.get((event.reason or "").strip().lower())
    if event.event != "bounce":
        return None
    if event.bounce_type != "blocked":
        return SubscriberState.bounced
    return SubscriberState.bounced if blocked_streak(session, subscriber, blocked_in_a_row) else None


def blocked_streak(session: Session, subscriber: Subscriber, length: int) -> bool:
    """Whether the subscriber's latest ``length`` delivery outcomes (by when they happened) are all blocks."""
    query = select(ProviderEvent.event, ProviderEvent.bounce_type).where(
        ProviderEvent.subscriber_id == subscriber.id, col(ProviderEvent.event).in_(OUTCOME_EVENTS)
    )
    if subscriber.confirmed_at is not None:
        query = query.where(col(ProviderEvent.occurred_at) >= subscriber.confirmed_at)
    latest = session.exec(
        query.order_by(col(ProviderEvent.occurred_at).desc(), col(ProviderEvent.id).desc()).limit(length)
    ).all()
    return len(latest) == length and all(kind == "bounce" and how == "blocked" for kind, how in latest)


def move(session: Session, subscriber: Subscriber, target: SubscriberState, *, now: datetime) -> str:
    current = SubscriberState(subscriber.state)
    if STRENGTH[target] <= STRENGTH[current]:
        return f"subscriber stays {current}"
    subscriber.state = target
    subscriber.updated_at = now
    if target == SubscriberState.unsubscribed:
        subscriber.unsubscribed_at = now
        subscriber.unsubscribe_recorded = False  # left through the provider: no issue named
    session.add(subscriber)
    return f"subscriber {target}"
