"""The delivery ledger: one row per (issue, subscriber), and the transitions that make a send exactly-once.

pending --claim--> sending (leased to one claimant) --record--> sent | failed | skipped | pending (retry)

Every transition is its own committed transaction. A claim is an UPDATE guarded by the row's current
state and stamped with the claimant's id, so two senders can never own the same row, on PostgreSQL
(where ``FOR UPDATE SKIP LOCKED`` also keeps them from waiting on each other) as on SQLite.
"""

import json
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import (
    Connection,
    Engine,
    Integer,
    Table,
    and_,
    any_,
    bindparam,
    case,
    literal,
    or_,
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
    IssueVariant,
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


def claimable(issue_id: int, now: datetime, claimed_by: str) -> object:
    """Pending rows, rows whose lease ran out (the batch of a sender that died), and rows this very claim
    took already (a claim tried again after the connection dropped as the server committed it)."""
    return and_(
        col(Delivery.issue_id) == issue_id,
        or_(col(Delivery.not_before).is_(None), col(Delivery.not_before) <= now),  # its wave has come
        or_(
            col(Delivery.status) == DeliveryStatus.pending,
            and_(
                col(Delivery.status) == DeliveryStatus.sending,
                or_(col(Delivery.lease_until) < now, col(Delivery.claimed_by) == claimed_by),
            ),
        ),
    )


def claim(
    engine: Engine,
    issue_id: int,
    *,
    size: int,
    lease: timedelta,
    now: datetime,
    after: int = 0,
    claimed_by: str | None = None,
) -> list[Recipient]:
    """Take up to ``size`` claimable deliveries with ids above ``after``, for this caller alone, committed
    before anything is sent.

    The rows are found by walking the primary key from ``after`` (a sender passes the last id it
    claimed, so it never rescans what it has done; a final pass from 0 picks up retries and expired
    leases), picked with ``FOR UPDATE SKIP LOCKED`` (PostgreSQL: concurrent senders take different rows
    without waiting), then moved to ``sending`` with a lease, guarded by the same condition so that a
    row taken meanwhile (SQLite has no row locks) is left alone. On PostgreSQL that is one statement,
    which also returns each recipient's address; SQLite takes three.

    ``claimed_by`` (a fresh ``claimant()``) makes the claim safe to try again: when the database goes
    away the caller cannot know whether its claim was committed, so the same call, made again, takes
    back the rows it stamped, without counting another attempt, as well as new ones.
    """
    claimed_by = claimed_by or claimant()
    with unit_of_work(engine) as session:
        # Core execution on the session's connection: rows as plain tuples, fetched at once.
        connection = session.connection()
        if engine.dialect.name == "postgresql":
            values = {"issue": issue_id, "now": now, "after": after, "size": size}
            values |= {"by": claimed_by, "until": now + lease}
            rows: Sequence[Sequence[Any]] = connection.execute(CLAIM_ON_POSTGRESQL, values).all()
        else:
            rows = claim_in_steps(connection, issue_id, size, now, after, claimed_by, now + lease)
    return sorted(map(Recipient._make, rows))  # by delivery id: the order the sender walks


def claimant() -> str:
    """A new claimant id: one per claim, kept when the same claim is tried again."""
    return secrets.token_hex(8)


# One round trip. ``= ANY(ARRAY(subquery))`` makes PostgreSQL fetch the picked rows, and then their
# subscribers, by primary key; a join let it hash the whole ledger and subscriber table for every batch.
CLAIM_ON_POSTGRESQL = text("""
WITH claimed AS (
    UPDATE delivery
    SET status = 'sending', claimed_by = :by, lease_until = :until, updated_at = :now,
        attempts = CASE WHEN status = 'sending' AND claimed_by = :by THEN attempts ELSE attempts + 1 END
    WHERE id = ANY(ARRAY(
        SELECT id FROM delivery
        WHERE issue_id = :issue AND id > :after AND (not_before IS NULL OR not_before <= :now)
          AND (status = 'pending' OR (status = 'sending' AND (lease_until < :now OR claimed_by = :by)))
        ORDER BY id
        LIMIT :size
        FOR UPDATE SKIP LOCKED
    ))
      AND (status = 'pending' OR (status = 'sending' AND (lease_until < :now OR claimed_by = :by)))
    RETURNING id, subscriber_id, attempts, variant_id
)
SELECT claimed.id, claimed.subscriber_id, subscriber.email, subscriber.state, subscriber.token_nonce,
       claimed.attempts, claimed.variant_id
FROM claimed
JOIN subscriber ON subscriber.id = claimed.subscriber_id
 AND subscriber.id = ANY(ARRAY(SELECT subscriber_id FROM claimed))
""")


def claim_in_steps(
    connection: Connection,
    issue_id: int,
    size: int,
    now: datetime,
    after: int,
    claimed_by: str,
    until: datetime,
) -> list[tuple[Any, ...]]:
    """The claim on SQLite: pick and update in one statement (the update guarded again: SQLite has no
    row locks, though it lets one writer at a time anyway), then read the addresses."""
    picked = (
        select_columns(col(Delivery.id))
        .where(claimable(issue_id, now, claimed_by), col(Delivery.id) > after)  # type: ignore[arg-type]
        .order_by(col(Delivery.id))
        .limit(size)
    )
    statement = (
        update(DELIVERY)
        .where(col(Delivery.id).in_(picked.scalar_subquery()), claimable(issue_id, now, claimed_by))  # type: ignore[arg-type]
        .values(
            status=DeliveryStatus.sending,
            claimed_by=claimed_by,
            lease_until=until,
            attempts=case(
                (
                    and_(
                        col(Delivery.status) == DeliveryStatus.sending,
                        col(Delivery.claimed_by) == claimed_by,
                    ),
                    col(Delivery.attempts),
                ),
                else_=col(Delivery.attempts) + 1,
            ),
            updated_at=now,
        )
        .returning(DELIVERY.c.id, DELIVERY.c.subscriber_id, DELIVERY.c.attempts, DELIVERY.c.variant_id)
    )
    claimed = connection.execute(statement).all()
    if not claimed:
        return []
    people = select_columns(SUBSCRIBER.c.id, SUBSCRIBER.c.email, SUBSCRIBER.c.state, SUBSCRIBER.c.token_nonce)
    wanted = among(SUBSCRIBER.c.id, [row[1] for row in claimed], "sqlite")
    found = {row[0]: tuple(row[1:]) for row in connection.execute(people.where(wanted)).all()}
    return [(d, s, *found[s], tries, variant) for d, s, tries, variant in claimed]


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


def delivery_counts(session: Session, issue_id: int) -> dict[str, int]:
    rows = session.exec(
        select(Delivery.status, func.count())
        .where(Delivery.issue_id == issue_id)
        .group_by(col(Delivery.status))
    )
    counts = {status.value: 0 for status in DeliveryStatus}
    counts.update({status: count for status, count in rows})
    return counts


@dataclass(frozen=True)
class VariantCounts:
    """A variant's deliveries by status. ``position`` None: the issue's own email (a send from before
    topics), or, with ``unmatched`` counts, the subscribers who got nothing."""

    position: int | None
    summaries: int
    choices: tuple[tuple[str, ...], ...]
    counts: dict[str, int]

    @property
    def recipients(self) -> int:
        return sum(self.counts.values())


def variant_counts(session: Session, issue_id: int) -> list[VariantCounts]:
    """The issue's deliveries by variant and status, in the variants' order, the unmatched last."""
    rows = session.exec(
        select(Delivery.variant_id, Delivery.status, func.count())
        .where(Delivery.issue_id == issue_id)
        .group_by(col(Delivery.variant_id), col(Delivery.status))
    )
    by_variant: dict[int | None, dict[str, int]] = {}
    unmatched = 0
    for variant_id, status, number in rows:
        if status == DeliveryStatus.unmatched:
            unmatched += number
        else:
            by_variant.setdefault(variant_id, {})[status] = number
    variants = {
        variant.id: variant
        for variant in session.exec(select(IssueVariant).where(IssueVariant.issue_id == issue_id))
    }
    result = []
    for variant_id, counts in by_variant.items():
        variant = variants.get(variant_id) if variant_id is not None else None
        if variant is None:
            result.append(VariantCounts(None, -1, (), counts))
        else:
            choices = tuple(tuple(choice) for choice in variant.choices)
            summaries = len(variant.summaries.split(",")) if variant.summaries else 0
            result.append(VariantCounts(variant.position, summaries, choices, counts))
    result.sort(key=lambda v: v.position or 0)
    if unmatched:
        result.append(VariantCounts(None, 0, (), {DeliveryStatus.unmatched.value: unmatched}))
    return result
