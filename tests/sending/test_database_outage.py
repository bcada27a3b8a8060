"""A database restart in the middle of a send costs no duplicate and no rerun (issue 13 item 10).

The shared PostgreSQL server is never restarted: a TCP proxy in front of it (``tests/support/proxy.py``)
drops every connection and refuses new ones for a few seconds, which is what a client sees during a
restart. The cut comes at the worst moment: right after the SendGrid stand-in took the first batch, so
the sender holds outcomes the database does not know yet; or between the server committing a claim and
the sender hearing so. A send rides through it and finishes in the same run, each reader mailed once;
an outage longer than ``DIGEST_DATABASE_OUTAGE`` stops ``digest send`` with one line, and the next run
records what the provider took before going on, so nobody gets the issue twice. ``digest worker`` and
``digest scheduler`` ride through the same way instead of exiting. PostgreSQL only: SQLite is a file,
with no server to restart.
"""

import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from digest.config import Settings
from digest.db.engine import make_engine, upgrade
from digest.db.models import DeliveryStatus, IssueStatus
from digest.devtools.sendgrid_standin import SendGridStandIn
from digest.errors import DatabaseError
from digest.mail import Envelope, MemoryMailer, Outcome, SharedBody
from digest.mail.sendgrid import SendGridMailer
from digest.scheduler.leader import FileLock
from digest.scheduler.runner import SchedulerProcess
from digest.sending import held
from digest.sending.ledger import Changes
from digest.sending.sender import IssueSender
from digest.wiring import Parts
from tests.support.proxy import Proxy
from tests.support.scheduler import wait_until
from tests.support.sendgrid import KEY, SPEC, accepted, send_env
from tests.support.sending import T0, approved_issue, audience, issue_status, make_sender, statuses

READERS = 40
BATCH = 10


class CutAtFirstAcceptance(SendGridStandIn):
    """The stand-in, and the database restarts the moment it has taken the first batch (before its 202
    reaches the sender)."""

    def __init__(self, record: Path, proxy: Proxy, seconds: float) -> None:
        super().__init__(KEY, SPEC, record)
        self.proxy, self.seconds = proxy, seconds

    def accept(self, body: dict[str, Any], message_id: str) -> int:
        taken = super().accept(body, message_id)
        if self.proxy.cuts == 0:
            self.proxy.cut(self.seconds)
        return taken


class CutAtAcceptances(SendGridStandIn):
    """The stand-in, and the database restarts each time it has taken one of the given requests (counted
    from 1), before its 202 reaches the sender: several restarts in one send."""

    def __init__(self, record: Path, proxy: Proxy, seconds: float, at: set[int]) -> None:
        super().__init__(KEY, SPEC, record)
        self.proxy, self.seconds, self.at = proxy, seconds, at
        self.taken = 0

    def accept(self, body: dict[str, Any], message_id: str) -> int:
        recipients = super().accept(body, message_id)
        self.taken += 1
        if self.taken in self.at:
            self.proxy.cut(self.seconds)
        return recipients


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
def proxy(postgres_url: str) -> Iterator[Proxy]:
    """A proxy before the run's PostgreSQL database, freshly migrated."""
    url = make_url(postgres_url)
    direct = make_engine(postgres_url)
    with direct.begin() as connection:
        connection.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    upgrade(direct)
    direct.dispose()
    with Proxy((url.host or "127.0.0.1", url.port or 5432)) as proxy:
        yield proxy


@pytest.fixture
def proxied_url(postgres_url: str, proxy: Proxy) -> str:
    """The database URL that goes through the proxy."""
    url = make_url(postgres_url).set(host="127.0.0.1", port=proxy.port)
    return url.render_as_string(hide_password=False)


@pytest.fixture
def direct(postgres_url: str, proxy: Proxy) -> Iterator[Engine]:
    """An engine that bypasses the proxy: what the test reads to check, whatever the proxy does."""
    engine = make_engine(postgres_url)
    yield engine
    engine.dispose()


@pytest.fixture
def through_proxy(proxied_url: str) -> Iterator[Engine]:
    engine = make_engine(proxied_url)
    yield engine
    engine.dispose()


def test_a_restart_after_sendgrid_took_a_batch_finishes_the_send_with_no_one_twice(
    through_proxy: Engine, direct: Engine, proxy: Proxy, tmp_path: Path
) -> None:
    number = approved_issue(direct, tmp_path)
    readers = audience(direct, READERS)
    with CutAtFirstAcceptance(tmp_path / "accepted.jsonl", proxy, seconds=3) as sendgrid:
        mailer = SendGridMailer(KEY, host=sendgrid.url, timeout=5.0)
        with make_sender(through_proxy, mailer, batch_size=BATCH) as sender:
            report = sender.send(number)

    assert proxy.cuts == 1
    assert accepted(sendgrid) == Counter(readers)  # everyone once: nobody twice, nobody missing
    # One run: the outcomes held through the outage were recorded, nothing waits for a lease.
    assert (report.sent, report.in_flight) == (READERS, 0)
    assert issue_status(direct, number) == IssueStatus.sent
    assert set(statuses(direct, number).values()) == {DeliveryStatus.sent}


def test_two_restarts_in_one_sendgrid_send_cost_no_duplicate_and_no_rerun(
    through_proxy: Engine, direct: Engine, proxy: Proxy, tmp_path: Path
) -> None:
    """The issue's own case: PostgreSQL restarted twice during a SendGrid send."""
    number = approved_issue(direct, tmp_path)
    readers = audience(direct, READERS)
    with CutAtAcceptances(tmp_path / "accepted.jsonl", proxy, seconds=2, at={1, 3}) as sendgrid:
        mailer = SendGridMailer(KEY, host=sendgrid.url, timeout=5.0)
        with make_sender(through_proxy, mailer, batch_size=BATCH) as sender:
            report = sender.send(number)

    assert proxy.cuts == 2
    assert accepted(sendgrid) == Counter(readers)  # everyone once
    assert (report.sent, report.in_flight) == (READERS, 0)
    assert issue_status(direct, number) == IssueStatus.sent


def test_a_claim_whose_commit_the_restart_swallowed_is_taken_back_by_its_next_try(
    through_proxy: Engine, direct: Engine, proxy: Proxy, tmp_path: Path
) -> None:
    number = approved_issue(direct, tmp_path)
    audience(direct, READERS)
    sender = make_sender(through_proxy, MemoryMailer(), batch_size=BATCH)
    issue, _ = sender.start(number, resume=False)

    def lose_the_answer(_connection: object) -> None:
        proxy.cut_at_next_answer(2)  # the server commits the claim; the sender never hears it

    event.listen(through_proxy, "commit", lose_the_answer, once=True)
    batch = sender.prepared(issue)

    assert proxy.cuts == 1
    # The try after the restart took back the rows the lost claim had taken, with one attempt each:
    # nothing is left leased to no one (before, these waited out their lease, and the send with them).
    assert len(batch.recipients) == BATCH
    assert {r.attempts for r in batch.recipients} == {1}
    leased = [s for s in statuses(direct, number).values() if s == DeliveryStatus.sending]
    assert len(leased) == BATCH


def test_an_outage_longer_than_the_bound_stops_the_sender_with_the_database_error(
    through_proxy: Engine, direct: Engine, proxy: Proxy, tmp_path: Path
) -> None:
    number = approved_issue(direct, tmp_path)
    audience(direct, READERS)
    mailer = CutAfterFirstBatch(proxy, seconds=8)
    sender = make_sender(through_proxy, mailer, batch_size=BATCH)
    sender.settings = replace(sender.settings, outage=timedelta(seconds=2))

    with pytest.raises(DBAPIError):
        sender.send(number)

    assert sum(mailer.taken.values()) == BATCH  # it stopped instead of going on without the database


def test_another_sender_leaves_alone_the_batch_a_sender_stopped_by_the_outage_holds(
    through_proxy: Engine, direct: Engine, proxy: Proxy, tmp_path: Path
) -> None:
    """Two senders share a send (a scheduler and a worker). One hands a batch to SendGrid, then the
    database stays away past its bound: it stops, keeping the batch's outcomes on its own disk. The other,
    once the database is back, must not take that batch as a dead sender's: a claim's lease covers the
    time its sender may wait for the database (``DIGEST_DATABASE_OUTAGE``) on top of
    ``DIGEST_SEND_LEASE``. The clocks are fixed: the other sender claims after the plain lease ran out."""
    lease, outage = timedelta(seconds=5), timedelta(seconds=3)
    number = approved_issue(direct, tmp_path)
    readers = audience(direct, READERS)

    def sender(engine: Engine, sendgrid: SendGridStandIn, at: timedelta, held_in: str) -> IssueSender:
        mailer = SendGridMailer(KEY, host=sendgrid.url, timeout=5.0)
        made = make_sender(engine, mailer, at=T0 + at, batch_size=BATCH)
        made.settings = replace(made.settings, lease=lease, outage=outage, held_outcomes=tmp_path / held_in)
        return made

    with CutAtAcceptances(tmp_path / "accepted.jsonl", proxy, seconds=6, at={1}) as sendgrid:
        with sender(through_proxy, sendgrid, timedelta(0), "held-a") as first, pytest.raises(DatabaseError):
            first.send(number)
        assert accepted(sendgrid) == Counter(readers[:BATCH])
        wait_until(lambda: not proxy.down.is_set(), what="the database back", timeout=30)

        with sender(direct, sendgrid, lease + timedelta(seconds=1), "held-b") as other:
            other.send(number)
        assert max(accepted(sendgrid).values()) == 1  # the first batch was not sent again

        with sender(direct, sendgrid, lease + outage + timedelta(seconds=1), "held-a") as again:
            report = again.send(number)  # the first sender's machine: it records what it kept
        assert accepted(sendgrid) == Counter(readers)  # everyone once
    assert (report.in_flight, issue_status(direct, number)) == (0, IssueStatus.sent)
    assert set(statuses(direct, number).values()) == {DeliveryStatus.sent}


def run_digest(
    command: list[str], env: dict[str, str], folder: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "digest", *command],
        env=env,
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_digest_send_stops_with_one_line_after_a_long_outage_and_the_rerun_mails_no_one_twice(
    proxied_url: str, direct: Engine, proxy: Proxy, tmp_path: Path
) -> None:
    number = approved_issue(direct, tmp_path)
    readers = audience(direct, READERS)
    with CutAtFirstAcceptance(tmp_path / "accepted.jsonl", proxy, seconds=10) as sendgrid:
        env = send_env(proxied_url, sendgrid, BATCH)
        env.update(DIGEST_DATABASE_OUTAGE="2s", DIGEST_SEND_LEASE="1s")

        stopped = run_digest(["send"], env, tmp_path)

        errors = [line for line in stopped.stderr.splitlines() if line.startswith("error:")]
        assert stopped.returncode == 1, stopped.stderr
        assert len(errors) == 1, stopped.stderr
        assert errors[0].startswith("error: database error: ")
        assert accepted(sendgrid) == Counter(readers[:BATCH])  # the provider took the first batch
        wait_until(lambda: not proxy.down.is_set(), what="the database back", timeout=30)
        waiting = [
            line for line in run_digest(["status"], env, tmp_path).stdout.splitlines() if "HELD" in line
        ]
        assert len(waiting) == 1  # ops see what waits, and where
        assert f"of {BATCH} deliveries" in waiting[0]

        rerun = run_digest(["send"], env, tmp_path)

        assert rerun.returncode == 0, rerun.stderr
        assert accepted(sendgrid) == Counter(readers)  # the first batch was recorded, not sent again
        assert "HELD" not in run_digest(["status"], env, tmp_path).stdout
    assert issue_status(direct, number) == IssueStatus.sent
    assert "held-outcomes" in errors[0]  # the line says where what the provider took was kept
    assert "the next send records them" in errors[0]
    assert not list((tmp_path / "held-outcomes").glob("*.json"))  # recorded, then removed


def test_digest_worker_rides_through_a_restart(
    proxied_url: str, direct: Engine, proxy: Proxy, tmp_path: Path
) -> None:
    number = approved_issue(direct, tmp_path)
    readers = audience(direct, READERS)
    make_sender(direct, MemoryMailer(), batch_size=BATCH).start(number, resume=False)  # the send is open
    with CutAtFirstAcceptance(tmp_path / "accepted.jsonl", proxy, seconds=3) as sendgrid:
        finished = run_digest(["worker", "--once"], send_env(proxied_url, sendgrid, BATCH), tmp_path)

        assert finished.returncode == 0, finished.stderr
        assert proxy.cuts == 1
        assert accepted(sendgrid) == Counter(readers)
    assert issue_status(direct, number) == IssueStatus.sent


def test_digest_worker_outlives_an_outage_longer_than_the_bound_and_mails_no_one_twice(
    proxied_url: str, direct: Engine, proxy: Proxy, tmp_path: Path
) -> None:
    """A worker run as a service (not ``--once``) whose send stops past ``DIGEST_DATABASE_OUTAGE`` says
    so in its log and stays up; once the database answers it records what SendGrid took and finishes."""
    number = approved_issue(direct, tmp_path)
    readers = audience(direct, READERS)
    make_sender(direct, MemoryMailer(), batch_size=BATCH).start(number, resume=False)  # the send is open
    log = tmp_path / "worker.log"
    with CutAtFirstAcceptance(tmp_path / "accepted.jsonl", proxy, seconds=6) as sendgrid:
        env = send_env(proxied_url, sendgrid, BATCH)
        env.update(DIGEST_DATABASE_OUTAGE="2s", DIGEST_SEND_LEASE="1s")
        with log.open("ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "digest", "worker", "--poll", "0.5"],
                env=env,
                cwd=tmp_path,
                stdout=out,
                stderr=out,
            )
        try:
            wait_until(lambda: proxy.cuts == 1, what="the outage", timeout=60)
            wait_until(lambda: issue_status(direct, number) == IssueStatus.sent, what="the send", timeout=90)
            assert process.poll() is None, log.read_text()  # before, it exited with the error
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0, log.read_text()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        assert accepted(sendgrid) == Counter(readers)  # everyone once: the held batch was not sent again
    assert "the next send records them" in log.read_text()  # the stopped send said why, in the log
    assert not list((tmp_path / "held-outcomes").glob("*.json"))


def test_digest_scheduler_rides_through_a_restart_in_the_middle_of_its_send(
    proxied_url: str, direct: Engine, proxy: Proxy, tmp_path: Path
) -> None:
    number = approved_issue(direct, tmp_path)
    readers = audience(direct, READERS)
    make_sender(direct, MemoryMailer(), batch_size=BATCH).start(number, resume=False)  # a send to resume
    log = tmp_path / "scheduler.log"
    with CutAtFirstAcceptance(tmp_path / "accepted.jsonl", proxy, seconds=4) as sendgrid:
        env = send_env(proxied_url, sendgrid, BATCH)
        env.update(DIGEST_HEARTBEAT_EVERY="1s", DIGEST_SCHEDULE="0 7 1 1 *", DIGEST_SOURCES=str(tmp_path))
        with log.open("ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "digest", "scheduler"], env=env, cwd=tmp_path, stdout=out, stderr=out
            )
        try:
            wait_until(lambda: issue_status(direct, number) == IssueStatus.sent, what="the send", timeout=90)
            assert process.poll() is None, log.read_text()  # it rode through instead of exiting
        finally:
            process.terminate()
            process.wait(timeout=30)
        assert proxy.cuts == 1
        assert accepted(sendgrid) == Counter(readers)
    assert "error:" not in log.read_text()


def test_digest_scheduler_outlives_an_outage_longer_than_the_bound_and_mails_no_one_twice(
    proxied_url: str, direct: Engine, proxy: Proxy, tmp_path: Path
) -> None:
    """Past ``DIGEST_DATABASE_OUTAGE`` its send stops and keeps the outcomes SendGrid took; the process
    stays up, and once the database answers its next send records them and finishes the issue."""
    number = approved_issue(direct, tmp_path)
    readers = audience(direct, READERS)
    make_sender(direct, MemoryMailer(), batch_size=BATCH).start(number, resume=False)  # a send to resume
    log = tmp_path / "scheduler.log"
    with CutAtFirstAcceptance(tmp_path / "accepted.jsonl", proxy, seconds=6) as sendgrid:
        env = send_env(proxied_url, sendgrid, BATCH)
        env.update(DIGEST_HEARTBEAT_EVERY="1s", DIGEST_SCHEDULE="0 7 1 1 *", DIGEST_SOURCES=str(tmp_path))
        env.update(DIGEST_DATABASE_OUTAGE="2s", DIGEST_SEND_LEASE="1s")
        with log.open("ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "digest", "scheduler"], env=env, cwd=tmp_path, stdout=out, stderr=out
            )
        try:
            wait_until(lambda: proxy.cuts == 1, what="the outage", timeout=60)
            wait_until(lambda: issue_status(direct, number) == IssueStatus.sent, what="the send", timeout=90)
            assert process.poll() is None, log.read_text()  # it outlived the outage
        finally:
            process.terminate()
            process.wait(timeout=30)
        assert accepted(sendgrid) == Counter(readers)  # everyone once: the held batch was not sent again
    assert "the next send records them" in log.read_text()  # it did stop that send, and said why
    assert not list((tmp_path / "held-outcomes").glob("*.json"))


def test_held_outcomes_read_back_as_the_changes_that_were_kept(tmp_path: Path) -> None:
    """What a stopped send leaves on disk is, read back, the same ledger changes: times, statuses, ids."""
    at = T0 + timedelta(minutes=5)
    done = (("lease_until", None), ("claimed_by", None), ("updated_at", at))
    changes: Changes = {
        (("status", DeliveryStatus.sent), ("sent_at", at), ("provider_message_id", "abc"), *done): [3, 4],
        (("status", DeliveryStatus.pending), ("last_error", "421 try later"), *done): [5],
    }

    path = held.keep(tmp_path / "held", changes, now=at)

    assert held.read(path) == changes
    assert [p.name for p in (tmp_path / "held").iterdir()] == [path.name]  # no partial file left


def test_a_scheduler_that_takes_the_lead_while_the_database_is_away_stands_by_until_it_answers(
    proxied_url: str, proxy: Proxy, tmp_path: Path
) -> None:
    settings = Settings(
        database_url=proxied_url,
        outbox_dir=tmp_path / "outbox",
        sources=str(tmp_path),
        base_url="https://digest.example.org",
        DIGEST_FROM="Research Digest <digest@news.example.org>",
        heartbeat_every=timedelta(seconds=1),
        schedule="* * * * *",  # a time just past: taking the lead reads the database to see if it ran
    )
    parts = Parts(settings)
    process = SchedulerProcess(parts, FileLock(tmp_path / "lead.lock"))  # a lead the outage leaves alone
    failures: list[BaseException] = []

    def run() -> None:
        try:
            process.run()
        except BaseException as exc:
            failures.append(exc)

    proxy.cut(3)
    thread = threading.Thread(target=run, name="scheduler-under-test")
    thread.start()
    try:
        wait_until(
            lambda: (process.scheduler is not None and process.scheduler.running) or bool(failures),
            what="the scheduler leading",
            timeout=30,
        )
    finally:
        process.stop()
        thread.join(timeout=30)
        parts.close()
    assert failures == []  # before, the first read of the database ended the process
    assert not thread.is_alive()
