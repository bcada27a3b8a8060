"""A database restart in the middle of a send costs no duplicate (issue 13 item 10).

PostgreSQL goes away (a proxy in front of it drops every connection and refuses new ones) right after
the provider has taken a batch: the sender keeps that batch's outcomes and records them once the
database answers again, and the send goes on. An outage longer than ``outage`` stops the send with the
database's error. PostgreSQL only: SQLite is a file, with no server to restart.
"""

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from digest.db.engine import make_engine, upgrade
from digest.mail import Envelope, MemoryMailer, Outcome, SharedBody
from tests.support.proxy import Proxy
from tests.support.sending import T0, approved_issue, audience, make_sender, statuses

READERS = 40
BATCH = 10


class CutAfterFirstBatch(MemoryMailer):
    """Takes every message, and right after taking the first batch, the database restarts."""

    def __init__(self, proxy: Proxy, seconds: float) -> None:
        super().__init__()
        self.proxy, self.seconds = proxy, seconds
        self.taken: Counter[str] = Counter()

    def send_batch(self, body: SharedBody, envelopes: Sequence[Envelope]) -> list[Outcome]:
        outcomes = super().send_batch(body, envelopes)
        self.taken.update(envelope.to for envelope in envelopes)
        if self.proxy.cuts == 0:
            self.proxy.cut(self.seconds)
        return outcomes


@pytest.fixture
def through_proxy(postgres_url: str) -> Iterator[tuple[Engine, Proxy]]:
    url = make_url(postgres_url)
    direct = make_engine(postgres_url)
    with direct.begin() as connection:
        connection.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    upgrade(direct)
    direct.dispose()
    with Proxy((url.host or "127.0.0.1", url.port or 5432)) as proxy:
        engine = make_engine(url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False))
        yield engine, proxy
        engine.dispose()


def test_a_restart_after_the_provider_took_a_batch_sends_no_one_twice(
    through_proxy: tuple[Engine, Proxy], tmp_path: Path
) -> None:
    engine, proxy = through_proxy
    number = approved_issue(engine, tmp_path)
    readers = audience(engine, READERS)
    mailer = CutAfterFirstBatch(proxy, seconds=3)
    sender = make_sender(engine, mailer, batch_size=BATCH)

    report = sender.send(number)

    assert proxy.cuts == 1
    assert max(mailer.taken.values()) == 1  # nobody twice: the taken batch was recorded once it could be
    # A claim the server made as the connection dropped is not known to the sender: that batch waits for
    # its lease, like a crashed sender's, and goes out once (never twice) after it.
    assert report.sent + report.in_flight == READERS
    if report.in_flight:
        sender.clock = lambda: T0 + timedelta(minutes=3)
        sender.send(number)
    assert set(mailer.taken) == set(readers)
    assert max(mailer.taken.values()) == 1
    assert set(statuses(engine, number).values()) == {"sent"}


def test_an_outage_longer_than_the_bound_stops_the_send_with_the_database_error(
    through_proxy: tuple[Engine, Proxy], tmp_path: Path
) -> None:
    engine, proxy = through_proxy
    number = approved_issue(engine, tmp_path)
    audience(engine, READERS)
    mailer = CutAfterFirstBatch(proxy, seconds=8)
    sender = make_sender(engine, mailer, batch_size=BATCH)
    sender.settings = replace(sender.settings, outage=timedelta(seconds=2))

    with pytest.raises(DBAPIError):
        sender.send(number)

    assert sum(mailer.taken.values()) == BATCH  # it stopped instead of going on without the database
