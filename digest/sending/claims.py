"""Claiming a batch of the delivery ledger: ``pending`` (or a ``sending`` row whose lease ran out) ->
``sending``, leased to one claimant, committed before any message of the batch is handed over.

A claim is an UPDATE guarded by the row's current state and stamped with the claimant's id, so two
senders can never own the same row: on PostgreSQL one statement (``FOR UPDATE SKIP LOCKED`` also keeps
them from waiting on each other), on SQLite a pick and a guarded update in one write transaction.
"""

import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, case, or_, text, update
from sqlalchemy import select as select_columns
from sqlmodel import col

from digest.db.engine import unit_of_work
from digest.db.models import Delivery, DeliveryStatus
from digest.sending.ledger import DELIVERY, SUBSCRIBER, Recipient, among


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
