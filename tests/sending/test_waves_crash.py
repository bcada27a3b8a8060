"""A wave survives a crash on PostgreSQL: a ``digest worker`` killed (SIGKILL) in the middle of a wave, and a
second worker finishing it, give every reader of the wave the issue once (bar the one batch the provider
took before the kill, the documented window) and nobody of a wave still to come. Real processes, the real
SendGrid client against the stand-in; the data is dated from the real now, as the processes' clocks are."""

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from digest.core.clock import utc_now
from digest.db.engine import unit_of_work
from digest.devtools.sendgrid_standin import SendGridStandIn
from digest.issues.queries import get_issue
from digest.mail import MemoryMailer
from digest.sending import waves
from digest.sending.waves import LocalDelivery
from digest.subscribers import records
from tests.support import NOW
from tests.support.sendgrid import KEY, LEASE_SECONDS, SPEC, accepted, send_env
from tests.support.sending import approved_issue, issue_status, statuses
from tests.support.waves import local_sender

BATCH = 20
NOW_READERS = 300  # in DIGEST_TIMEZONE (UTC): their wave has come
LATER_READERS = 20  # in Pacific/Pago_Pago: theirs is eleven hours on


@pytest.fixture
def sendgrid(tmp_path: Path) -> Iterator[SendGridStandIn]:
    with SendGridStandIn(KEY, SPEC, tmp_path / "accepted.jsonl") as standin:
        yield standin


def readers(engine: Engine) -> tuple[set[str], set[str]]:
    now_ones = {f"utc{n}@example.org" for n in range(NOW_READERS)}
    later_ones = {f"pago{n}@example.org" for n in range(LATER_READERS)}
    with unit_of_work(engine) as session:
        consent = records.Consent(form="test")
        for address in sorted(now_ones):
            records.add(session, address, confirmed=True, consent=consent, now=NOW)
        for address in sorted(later_ones):
            records.add(
                session, address, confirmed=True, consent=consent, now=NOW, timezone="Pacific/Pago_Pago"
            )
    return now_ones, later_ones


# Several workers share a send at once on PostgreSQL only (SKIP LOCKED); SQLite takes turns.
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_worker_killed_mid_wave_and_a_second_finishing_it(
    engine: Engine, database_url: str, tmp_path: Path, sendgrid: SendGridStandIn
) -> None:
    number = approved_issue(engine, tmp_path)
    now_ones, later_ones = readers(engine)
    with unit_of_work(engine) as session:
        get_issue(session, number).send_at = utc_now().replace(second=0, microsecond=0)
    local = LocalDelivery("UTC")
    with local_sender(engine, MemoryMailer(), local) as sender:
        sender.start(number, resume=False)  # the audience and its two waves, as the scheduler starts it

    env = send_env(database_url, sendgrid, BATCH)
    env.update(
        DIGEST_DELIVERY="local",
        DIGEST_TIMEZONE="UTC",
        DIGEST_SEND_LEASE=f"{LEASE_SECONDS}s",
        DIGEST_DATABASE_OUTAGE="0s",
        DIGEST_MAIL_TIMEOUT="10",
    )
    sendgrid.delay = 0.1
    worker = [sys.executable, "-m", "digest", "worker", "--poll", "0.2"]
    with (tmp_path / "worker.log").open("ab") as log:
        first = subprocess.Popen(worker, env=env, cwd=tmp_path, stdout=log, stderr=log)
        deadline = time.monotonic() + 60
        while sendgrid.requests < 3 and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        first.kill()  # SIGKILL in the middle of the wave: no cleanup
        first.wait()
    handed_before = sum(accepted(sendgrid).values())
    assert 0 < handed_before < NOW_READERS, "the first worker was not killed mid-wave"

    time.sleep(LEASE_SECONDS + 0.2)  # its batch is claimable again
    second = subprocess.run([*worker, "--once"], env=env, cwd=tmp_path, capture_output=True, timeout=120)
    assert second.returncode == 0, second.stderr.decode()

    counts = accepted(sendgrid)
    assert set(counts) == now_ones  # everyone of the wave, nobody of the one to come
    assert sum(counts.values()) - NOW_READERS <= BATCH  # at most the batch in hand at the kill, again
    ledger = statuses(engine, number)
    assert {ledger[address] for address in now_ones} == {"sent"}
    assert {ledger[address] for address in later_ones} == {"pending"}
    assert issue_status(engine, number) == "sending"
    with unit_of_work(engine) as session:
        states = waves.fixed(session, get_issue(session, number))
    assert [(w.zones, w.readers, w.state) for w in states] == [
        (("UTC",), NOW_READERS, "sent"),
        (("Pacific/Pago_Pago",), LATER_READERS, "waiting"),
    ]
    # A third look takes nothing early.
    requests = sendgrid.requests
    again = subprocess.run([*worker, "--once"], env=env, cwd=tmp_path, capture_output=True, timeout=60)
    assert again.returncode == 0
    assert sendgrid.requests == requests
