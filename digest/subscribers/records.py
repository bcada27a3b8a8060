"""Subscribers: adding, listing and changing state. Addresses are validated and normalised once, here."""

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlmodel import Session, col, func, select

from digest.core.topics import EVERYTHING
from digest.db.engine import dialect_insert
from digest.db.models import Subscriber, SubscriberState, Suppression
from digest.errors import InvalidInput, NotFound
from digest.subscribers.topics import choose


@dataclass(frozen=True)
class Consent:
    """How a subscriber agreed to receive the digest."""

    form: str
    ip: str | None = None
    user_agent: str | None = None
    text_version: str | None = None
    at: datetime | None = None  # when it was given, if before now (an imported opt-in time)
    # The reader's IANA zone as their browser reported it at sign-up (checked with ``core.zones``), None
    # when it did not: a sign-up stores it as their zone (``request_subscription``).
    timezone: str | None = None


def normalise_address(address: str) -> str:
    """The address as we store it: validated (internationalised domains too), domain normalised."""
    try:
        valid = validate_email(address.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidInput(f"not a valid email address: {address!r} ({exc})") from exc
    return valid.normalized


def address_key(normalised: str) -> str:
    """Addresses are unique without regard to case."""
    return normalised.casefold()


def suppression_hash(normalised: str) -> str:
    """How an erased address is remembered: a SHA-256 of its case-folded form, nothing readable."""
    return hashlib.sha256(address_key(normalised).encode()).hexdigest()


def is_suppressed(session: Session, email: str) -> bool:
    query = select(Suppression).where(Suppression.email_hash == suppression_hash(email))
    return session.exec(query).first() is not None


def find(session: Session, address: str) -> Subscriber | None:
    key = address_key(normalise_address(address))
    return session.exec(select(Subscriber).where(Subscriber.email_key == key)).first()


def get(session: Session, address: str) -> Subscriber:
    """The subscriber with this address; ``NotFound`` when there is none (for operators, not the web)."""
    subscriber = find(session, address)
    if subscriber is None:
        raise NotFound(f"no subscriber has the address {address}")
    return subscriber


def existing_or_new(session: Session, email: str, *, now: datetime) -> Subscriber:
    """The subscriber with this (normalised) address, inserted as a new pending one when there is none.

    Every way in (sign-up, API, ``subscribers add``, import) comes here. Insert-or-get, not look-then-add:
    when another transaction adds the same address at the same moment (two web processes, a sign-up
    during an import), the insert waits for it and does nothing, and the row it added is found here,
    where an insert after a look would have failed on the unique address.
    """
    key = address_key(email)
    new = {
        "email": email,
        "email_key": key,
        "state": SubscriberState.pending,
        "token_nonce": secrets.token_hex(8),
        "created_at": now,
        "updated_at": now,
    }
    insert = (
        dialect_insert(session, Subscriber).values(new).on_conflict_do_nothing(index_elements=["email_key"])
    )
    session.execute(insert)
    return session.exec(select(Subscriber).where(Subscriber.email_key == key)).one()


def add(
    session: Session,
    address: str,
    *,
    confirmed: bool,
    consent: Consent,
    now: datetime,
    topics: Sequence[str] = EVERYTHING,
    timezone: str | None = None,
) -> Subscriber:
    """Add ``address`` as pending, or as active when consent was proven elsewhere (``confirmed``). An
    erased address is refused either way: a pending one would be sent a confirmation.

    Adding again never downgrades an active subscriber, nor changes their ``topics`` (as a sign-up would
    not: they change them from their preferences link). A ``timezone`` given (an IANA name, checked by
    the caller with ``core.zones.checked_zone``) is set whatever their state: ops correct it so.
    """
    email = normalise_address(address)
    if is_suppressed(session, email):
        raise InvalidInput(
            f"{email} was erased at its owner's request: only signing up and confirming again lifts that"
        )
    subscriber = existing_or_new(session, email, now=now)
    if subscriber.state == SubscriberState.complained:
        raise InvalidInput(f"{email} reported the digest as spam: it is never mailed again")
    if subscriber.state != SubscriberState.active:
        subscriber.state = SubscriberState.active if confirmed else SubscriberState.pending
        subscriber.confirmed_at = now if confirmed else None
        record_consent(subscriber, consent, now=now)
        choose(subscriber, topics)
        subscriber.updated_at = now
    if timezone is not None:
        subscriber.timezone = timezone
        subscriber.updated_at = now
    session.add(subscriber)
    session.flush()
    return subscriber


def record_consent(subscriber: Subscriber, consent: Consent, *, now: datetime) -> None:
    for column, value in consent_fields(consent, now=now).items():
        setattr(subscriber, column, value)


def consent_fields(consent: Consent, *, now: datetime) -> dict[str, Any]:
    """The subscriber's columns that record ``consent``, by name."""
    return {
        "consent_at": consent.at or now,
        "consent_form": consent.form,
        "consent_ip": consent.ip,
        "consent_user_agent": consent.user_agent[:500] if consent.user_agent else None,
        "consent_text_version": consent.text_version,
    }


def listing(session: Session, *, state: str | None = None) -> list[Subscriber]:
    query = select(Subscriber).order_by(col(Subscriber.id))
    if state:
        query = query.where(Subscriber.state == state)
    return list(session.exec(query))


def counts_by_state(session: Session) -> dict[str, int]:
    rows = session.exec(select(Subscriber.state, func.count()).group_by(col(Subscriber.state)))
    counts = {state.value: 0 for state in SubscriberState}
    counts.update({state: count for state, count in rows})
    return counts
