"""The delivery ledger: one row per (issue, subscriber), and the transitions that make a send exactly-once.

pending --claim--> sending (leased to one claimant) --record--> sent | failed | skipped | pending (retry)

Every transition is its own committed transaction. A claim is an UPDATE guarded by the row's current
state and stamped with the claimant's id, so two senders can never own the same row, on PostgreSQL
(where ``FOR UPDATE SKIP LOCKED`` also keeps them from waiting on each other) as on SQLite.
"""

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    Engine,
    Integer,
    Table,
    any_,
    bindparam,
    case,
    literal,
    text,
    update,
)
from sqlalchemy import select as select_columns
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Session, col, func, select

from digest.db.engine import dialect_insert, unit_of_work
from digest.db.models import (
    Delivery,
    DeliveryStatus,
    Issue,
    IssueStatus,
    Subscriber,
    SubscriberState,
)
from digest.db.types import UTCDateTime
from digest.errors import InvalidState
from digest.subscribers.topics import active_choices


class Recipient(NamedTuple):
    """A claimed delivery with what is needed to address it (a named tuple: a claim makes thousands)."""

    delivery_id: int
    subscriber_id: int
    email: str
    state: str
    nonce: str
    attempts: int = 1
    variant_id: int | None = None  # which version of the issue they get (None: the issue's own)


Choices = dict[tuple[str, ...], int]


@dataclass(frozen=True)
class Waves:
    """With local-time delivery: each zone's wave start; readers without a zone (or with one not listed)
    are in ``default_zone``'s."""

    starts: Mapping[str, datetime]
    default_zone: str


@dataclass(frozen=True)
class Audience:
    """The subscribers whose stored topic choice is one of ``choices`` get ``variant_id`` (with status
    ``unmatched`` and no variant: no email this issue)."""

    variant_id: int | None
    status: DeliveryStatus
    choices: tuple[str, ...]  # as stored in subscriber.topics


def begin(
    session: Session,
    issue: Issue,
    *,
    now: datetime,
    variants: Callable[[Choices], Sequence[Audience]],
    waves: Callable[[], Waves] | None = None,
) -> None:
    """Move an approved issue to ``sending`` and write its audience into the ledger, atomically.

    ``variants`` turns the active subscribers' topic choices into audiences (rendering each variant
    once). Each audience is one INSERT ... SELECT, so a variant's deliveries are neighbours in the
    ledger and a batch rarely mixes variants. Choices and audiences must come from one view of the
    subscribers, or someone who changed topics in between would be in no audience: the caller runs
    this in one snapshot on PostgreSQL (``db.engine.one_snapshot``), and on SQLite the status change
    is written first, which takes the database's only write lock before anything is read.

    ``waves`` (local-time delivery) gives each zone's wave start, written into each delivery as its
    ``not_before`` in the same transaction, and with the same view of who is where.
    """
    if issue.status == IssueStatus.sending:
        return
    if issue.status != IssueStatus.approved:
        raise InvalidState(f"issue {issue.number} is {issue.status}; only an approved issue can be sent")
    # First, and only if no one else has: on SQLite this takes the write lock, so nothing changes until
    # this commits (a sender that started the issue meanwhile leaves 0 rows here: join its send). On
    # PostgreSQL a concurrent start makes this fail to serialize; the caller goes again and joins.
    started = session.connection().execute(
        update(ISSUE)
        .where(ISSUE.c.id == issue.id, ISSUE.c.status == IssueStatus.approved)
        .values(status=IssueStatus.sending, send_started_at=now, updated_at=now)
    )
    session.refresh(issue)
    if started.rowcount == 0:
        return
    choices = active_choices(session)
    starts = waves() if waves is not None else None
    if choices:
        for audience in variants(choices):
            write_audience(session, issue.id or 0, audience, now=now, waves=starts)
    # A million new rows and stale statistics make the planner (PostgreSQL's and SQLite's) sort the
    # whole ledger for every claim; fresh statistics let it walk the primary key instead.
    session.execute(text("ANALYZE delivery"))


def write_audience(
    session: Session, issue_id: int, audience: Audience, *, now: datetime, waves: Waves | None = None
) -> None:
    """One delivery per active subscriber of ``audience`` (none for someone written already), with their
    wave's start when there are ``waves``, ordered by it: a wave's deliveries are neighbours in the ledger,
    so the claims of one wave walk past few of another's."""
    start = wave_start(waves)
    people = select_columns(
        literal(issue_id),
        col(Subscriber.id),
        literal(audience.variant_id, Integer),
        literal(audience.status.value),
        literal(0),
        literal(now, UTCDateTime()),
        literal(now, UTCDateTime()),
        start,
    ).where(
        col(Subscriber.state) == SubscriberState.active,
        col(Subscriber.topics).in_(audience.choices),
    )
    if waves is not None:
        people = people.order_by(start, col(Subscriber.id))
    columns = ["issue_id", "subscriber_id", "variant_id", "status", "attempts", "created_at", "updated_at"]
    columns.append("not_before")
    session.execute(dialect_insert(session, Delivery).from_select(columns, people).on_conflict_do_nothing())


def wave_start(waves: Waves | None) -> Any:
    """A subscriber's wave start as SQL: a CASE on their zone (NULL without waves: at once)."""
    if waves is None:
        return literal(None, UTCDateTime())
    zone = func.coalesce(col(Subscriber.timezone), literal(waves.default_zone))
    default = waves.starts.get(waves.default_zone)
    whens = [(zone == name, literal(start, UTCDateTime())) for name, start in sorted(waves.starts.items())]
    if not whens:
        return literal(default, UTCDateTime())
    return case(*whens, else_=literal(default, UTCDateTime()))


DELIVERY: Table = Delivery.__table__  # type: ignore[attr-defined]  # the Core table: bulk updates without the ORM's per-row bookkeeping
SUBSCRIBER: Table = Subscriber.__table__  # type: ignore[attr-defined]
ISSUE: Table = Issue.__table__  # type: ignore[attr-defined]


def among(column: Any, ids: Sequence[int], dialect: str) -> Any:
    """``column IN ids`` with one parameter instead of thousands, which the drivers and servers handle
    many times faster for batches of thousands of ids: ``= ANY(array)`` on PostgreSQL, the ids as one
    JSON text unpacked by ``json_each`` on SQLite."""
    if dialect == "postgresql":
        return column == any_(literal(list(ids), ARRAY(Integer)))
    unpacked = func.json_each(json.dumps(list(ids))).table_valued("value")
    return column.in_(select_columns(unpacked.c.value))


def no_longer_active(engine: Engine, subscriber_ids: list[int]) -> set[int]:
    """Which of these subscribers have left (or bounced) since their batch was claimed.

    Asks for the few who left rather than the many who stayed: it runs for every batch, just before
    its messages go.
    """
    if not subscriber_ids:
        return set()
    query = select_columns(col(Subscriber.id)).where(
        among(col(Subscriber.id), subscriber_ids, engine.dialect.name),
        col(Subscriber.state) != SubscriberState.active,
    )
    with unit_of_work(engine) as session:
        return {subscriber_id for (subscriber_id,) in session.connection().execute(query) if subscriber_id}


Changes = dict[tuple[tuple[str, object], ...], list[int]]


def record(engine: Engine, changes: list[dict[str, object]]) -> None:
    """Write new values for deliveries, each change a dict with the delivery ``id``."""
    groups: Changes = {}
    for change in changes:
        values = tuple(sorted((key, value) for key, value in change.items() if key != "id"))
        groups.setdefault(values, []).append(int(change["id"]))  # type: ignore[call-overload]
    record_groups(engine, groups)


def record_groups(engine: Engine, groups: Changes) -> None:
    """Write outcomes in one transaction: for each set of (column, value) pairs, the ids that get it.

    Rows that get the same values (most of a batch through SendGrid: ``sent`` at one instant with one
    provider id per request) share one ``UPDATE ... WHERE id IN (...)``. Rows that get values of their
    own (through SMTP every message has its own id) go as one statement run for many rows
    (``executemany``), not one round trip each.
    """
    if not groups:
        return
    alone: dict[tuple[str, ...], list[dict[str, object]]] = {}
    with unit_of_work(engine) as session:
        connection = session.connection()
        for values, ids in groups.items():
            if len(ids) == 1:
                row = {"row_id": ids[0], **{f"new_{column}": value for column, value in values}}
                alone.setdefault(tuple(column for column, _ in values), []).append(row)
                continue
            where = among(col(Delivery.id), ids, engine.dialect.name)
            connection.execute(update(DELIVERY).where(where).values(dict(values)))
        for columns, rows in alone.items():
            statement = (
                update(DELIVERY)
                .where(DELIVERY.c.id == bindparam("row_id"))
                .values({column: bindparam(f"new_{column}") for column in columns})
            )
            connection.execute(statement, rows)


def release(engine: Engine, recipients: list[Recipient], *, now: datetime) -> None:
    """Give a claimed batch back untouched: nothing of it was handed over."""
    record(
        engine,
        [
            {
                "id": r.delivery_id,
                "status": DeliveryStatus.pending,
                "lease_until": None,
                "claimed_by": None,
                "attempts": r.attempts - 1,
                "updated_at": now,
            }
            for r in recipients
        ],
    )


def pause(engine: Engine, issue_id: int, reason: str, *, now: datetime) -> None:
    with unit_of_work(engine) as session:
        issue = session.get(Issue, issue_id)
        if issue is not None and issue.paused_reason is None:
            issue.paused_reason = reason[:500]
            issue.paused_at = issue.updated_at = now
            session.add(issue)


def finish(engine: Engine, issue_id: int, *, now: datetime) -> int:
    """Mark the issue sent when no delivery is open; return how many are still open (leased elsewhere)."""
    with unit_of_work(engine) as session:
        open_rows = session.exec(
            select(func.count())
            .select_from(Delivery)
            .where(
                Delivery.issue_id == issue_id,
                col(Delivery.status).in_([DeliveryStatus.pending, DeliveryStatus.sending]),
            )
        ).one()
        issue = session.get(Issue, issue_id)
        if open_rows == 0 and issue is not None and issue.status == IssueStatus.sending:
            issue.status = IssueStatus.sent
            issue.sent_at = issue.sent_at or now  # a newcomers' send keeps the issue's first
            issue.updated_at = now
            session.add(issue)
        return int(open_rows)


def waiting(engine: Engine, issue_id: int, *, now: datetime) -> tuple[int, datetime | None]:
    """How many deliveries wait for their wave (local-time delivery), and when the next wave starts."""
    with unit_of_work(engine) as session:
        count, first = session.exec(
            select(func.count(), func.min(Delivery.not_before)).where(
                Delivery.issue_id == issue_id,
                Delivery.status == DeliveryStatus.pending,
                col(Delivery.not_before) > now,
            )
        ).one()
        return int(count), first
