"""A sign-up does the same database work whatever the address's state, so its timing tells nothing.

Probes found an active address answered about 0.4 ms sooner than a pending one: the pending one rewrote its
consent record, the active one wrote nothing. Timing is too noisy to test on 2 shared cores, so this
checks the cause instead: the statements each sign-up sends to the database, on SQLite and PostgreSQL.
"""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event

from digest.core.clock import utc_now
from digest.db.engine import unit_of_work
from digest.db.models import Subscriber, SubscriberState
from digest.subscribers.records import Consent, add, find
from digest.subscribers.subscriptions import request_subscription

WINDOW = timedelta(minutes=10)
SIGN_UP = Consent(form="web form", ip="198.51.100.7", user_agent="probe/1.0", text_version="v2")
STATES = ["new", "pending", "active", "active-noticed", "unsubscribed", "bounced", "complained"]


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """The SQL sent to the database inside the block, placeholders and all, whitespace folded."""
    sent: list[str] = []

    def note(*args: Any) -> None:
        sent.append(re.sub(r"\s+", " ", args[2]).strip())

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", note)


def an_address(engine: Engine, state: str) -> str:
    """An address in ``state`` ("active-noticed": active, told "already subscribed" a minute ago)."""
    address = f"{state}@example.org"
    if state == "new":
        return address
    now = utc_now() - timedelta(days=1)
    with unit_of_work(engine) as session:
        subscriber = add(session, address, confirmed=True, consent=Consent(form="import"), now=now)
        subscriber.state = state.removesuffix("-noticed")
        subscriber.notice_sent_at = utc_now() - timedelta(minutes=1) if state == "active-noticed" else None
        session.add(subscriber)
    return address


def sign_up(engine: Engine, address: str) -> list[str]:
    with statements(engine) as sent, unit_of_work(engine) as session:
        request_subscription(session, address, SIGN_UP, now=utc_now(), resend_window=WINDOW)
    return sent


def test_every_state_sends_the_same_statements(engine: Engine) -> None:
    addresses = {state: an_address(engine, state) for state in STATES}
    work = {state: sign_up(engine, address) for state, address in addresses.items()}

    assert any(statement.startswith("UPDATE subscriber") for statement in work["active"])
    different = {state: sent for state, sent in work.items() if sent != work["pending"]}
    assert different == {}, f"pending signs up with {work['pending']}"


@pytest.mark.parametrize("state", ["active", "active-noticed"])
def test_an_active_subscriber_keeps_their_record(engine: Engine, state: str) -> None:
    """The write an active address gets is its own values back: a stranger typing it changes nothing."""
    address = an_address(engine, state)
    with unit_of_work(engine) as session:
        before = find(session, address)
        assert before is not None
        kept = before.model_dump(exclude={"notice_sent_at"})

    sign_up(engine, address)

    with unit_of_work(engine) as session:
        after = find(session, address)
        assert after is not None
        assert after.model_dump(exclude={"notice_sent_at"}) == kept
        assert after.state == SubscriberState.active


def test_a_pending_subscriber_gets_the_new_consent_record(engine: Engine) -> None:
    address = an_address(engine, "unsubscribed")
    sign_up(engine, address)
    with unit_of_work(engine) as session:
        subscriber = find(session, address)
        assert isinstance(subscriber, Subscriber)
        assert (subscriber.state, subscriber.consent_form, subscriber.consent_ip) == (
            SubscriberState.pending,
            "web form",
            "198.51.100.7",
        )
        assert subscriber.confirmation_sent_at is not None
