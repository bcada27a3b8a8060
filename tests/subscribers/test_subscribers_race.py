"""The same new address added twice at the same moment, on SQLite and PostgreSQL: one subscriber, no error.

Two web processes (or a sign-up during an import) each look the address up, find nothing and insert it;
the second insert used to fail on the unique address (a 500). Real threads race on the real database;
a barrier holds each one's insert until all have looked, so the race happens every time, not 1 in 5.
"""

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event
from sqlmodel import select

from digest.db.engine import unit_of_work
from digest.db.models import Subscriber
from digest.subscribers.imports import ImportPlan, import_rows
from digest.subscribers.list_files import Row
from digest.subscribers.records import Consent, add
from digest.subscribers.subscriptions import Notice, request_subscription
from digest.web.app import create_app
from digest.wiring import Parts
from tests.support import NOW, read_outbox

ADDRESS = "ada@example.org"
WINDOW = timedelta(minutes=10)


@contextmanager
def inserts_held_until_all_looked(engine: Engine, parties: int) -> Iterator[None]:
    """Each thread's first ``INSERT INTO subscriber`` waits until every thread has reached its own."""
    barrier = threading.Barrier(parties, timeout=10)
    met = threading.local()

    def hold(*args: Any) -> None:
        statement: str = args[2]
        if statement.lstrip().upper().startswith("INSERT INTO SUBSCRIBER") and not getattr(
            met, "done", False
        ):
            met.done = True
            barrier.wait()

    event.listen(engine, "before_cursor_execute", hold)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", hold)


def at_once(engine: Engine, *calls: Callable[[], object]) -> list[object]:
    """Run ``calls`` in threads of their own, racing to insert; their results, or their first error."""
    with inserts_held_until_all_looked(engine, len(calls)), ThreadPoolExecutor(len(calls)) as pool:
        running = [pool.submit(call) for call in calls]
        return [future.result(timeout=60) for future in running]


def sign_up(engine: Engine) -> Notice | None:
    """What ``POST /subscribe`` (form or JSON) does with an address."""
    with unit_of_work(engine) as session:
        consent = Consent(form="web form", ip="192.0.2.1")
        return request_subscription(session, ADDRESS, consent, now=NOW, resend_window=WINDOW)


def add_by_hand(engine: Engine) -> None:
    """What ``digest subscribers add`` does."""
    with unit_of_work(engine) as session:
        add(session, ADDRESS.upper(), confirmed=False, consent=Consent(form="command line"), now=NOW)


def import_list(engine: Engine) -> None:
    """What ``digest subscribers import`` does."""
    plan = ImportPlan("csv", "people.csv", None, now=NOW, resend_window=WINDOW, topics_on_offer=[])
    report = import_rows(engine, [Row(2, ADDRESS)], plan)
    assert report.problems == []


def rows(engine: Engine) -> list[tuple[str, str]]:
    with unit_of_work(engine) as session:
        return [(row.email_key, row.state) for row in session.exec(select(Subscriber))]


def test_two_sign_ups_of_a_new_address_at_once_make_one_subscriber_and_one_confirmation(
    engine: Engine,
) -> None:
    results = at_once(engine, lambda: sign_up(engine), lambda: sign_up(engine))

    assert rows(engine) == [(ADDRESS, "pending")]
    assert len([notice for notice in results if notice is not None]) == 1


@pytest.mark.parametrize("other", ["subscribers add", "subscribers import"])
def test_a_sign_up_racing_the_command_line_makes_one_subscriber(engine: Engine, other: str) -> None:
    by_hand = {
        "subscribers add": lambda: add_by_hand(engine),
        "subscribers import": lambda: import_list(engine),
    }[other]

    at_once(engine, lambda: sign_up(engine), by_hand)

    assert rows(engine) == [(ADDRESS, "pending")]


def test_two_web_processes_signing_up_one_address_at_once(parts: Parts, outbox: Path) -> None:
    """Two apps on one database, as two ``digest serve`` processes: both answer 202, one confirmation."""
    body = {"email": ADDRESS, "consent": True}
    with TestClient(create_app(parts)) as first, TestClient(create_app(parts)) as second:
        answers = at_once(
            parts.engine,
            partial(first.post, "/subscribe", json=body),
            partial(second.post, "/subscribe", json=body),
        )

    assert [getattr(answer, "status_code", None) for answer in answers] == [202, 202]
    assert rows(parts.engine) == [(ADDRESS, "pending")]
    assert [str(message["To"]) for message in read_outbox(outbox)] == [ADDRESS]
