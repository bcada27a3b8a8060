"""Real ``digest scheduler`` processes sending through the real SendGrid client to the stand-in, which keeps a
durable record of every recipient it accepted: a leader killed with SIGKILL while sending, a standby
that takes over, a leader stopped by SIGTERM in the middle of a send and started again, and a leader
whose lock connection the server cuts.

The schedule is every minute: a leader that starts finds this minute's run not done and runs it at
once (a missed time within the grace), so no test waits for the clock.
"""

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlmodel import select

from digest.db.engine import unit_of_work
from digest.db.models import DeliveryStatus, Issue, IssueStatus, JobRun, SchedulerHeartbeat
from digest.devtools.sendgrid_standin import SendGridStandIn
from digest.ops import runs
from tests.support import summary, write_summaries
from tests.support.scheduler import wait_until
from tests.support.sendgrid import KEY, SPEC
from tests.support.sending import audience, statuses

BATCH = 10


def scheduler_env(database_url: str, tmp_path: Path, sendgrid: SendGridStandIn) -> dict[str, str]:
    folder = tmp_path / "summaries"
    recent = datetime.now(UTC) - timedelta(hours=3)
    write_summaries(
        folder, "week.json", [summary(n, published_at=recent - timedelta(hours=n)) for n in range(3)]
    )
    env = {name: value for name, value in os.environ.items() if not name.startswith("DIGEST_")}
    env.update(
        DIGEST_ENV="test",
        DIGEST_DATABASE_URL=database_url,
        DIGEST_SECRET_KEYS="scheduler-test-signing-key-0123456789abcdef",
        DIGEST_BASE_URL="https://digest.example.org",
        DIGEST_FROM="Research Digest <digest@news.example.org>",
        DIGEST_SOURCES=str(folder),
        DIGEST_SCHEDULE="* * * * *",
        DIGEST_HEARTBEAT_EVERY="1s",
        DIGEST_EMAIL_BACKEND="sendgrid",
        DIGEST_SENDGRID_API_KEY=KEY,
        DIGEST_SENDGRID_HOST=sendgrid.url,
        DIGEST_BATCH_SIZE=str(BATCH),
        DIGEST_SEND_LEASE="1s",
        DIGEST_DATABASE_OUTAGE="0s",  # a dead leader's batch is claimable again after the 1 s lease
        DIGEST_LOG_FORMAT="json",
    )
    return env


def start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "digest", "scheduler"], env=env, stdout=out, stderr=out
        )


def records(log: Path) -> list[dict[str, object]]:
    """The process's log: every line is one JSON object (DIGEST_LOG_FORMAT=json)."""
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]


def messages(log: Path) -> list[str]:
    return [str(record["message"]) for record in records(log)]


def the_issue(engine: Engine) -> Issue | None:
    with unit_of_work(engine) as session:
        found = list(session.exec(select(Issue)))
    assert len(found) <= 1, f"more than one issue composed: {[i.number for i in found]}"
    return found[0] if found else None


def issue_is(engine: Engine, status: IssueStatus) -> bool:
    issue = the_issue(engine)
    return issue is not None and issue.status == status


def roles(engine: Engine) -> dict[int, str]:
    """Each scheduler process's role, by pid, from the heartbeats."""
    with unit_of_work(engine) as session:
        beats = session.exec(select(SchedulerHeartbeat)).all()
    return {int(beat.holder.rsplit(":", 1)[1]): beat.role for beat in beats}


def accepted(sendgrid: SendGridStandIn) -> Counter[str]:
    return Counter(str(line["email"]) for line in sendgrid.recorded())


def test_killing_the_leader_lets_the_standby_finish_the_one_issue(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    active = audience(engine, 400)
    with SendGridStandIn(KEY, SPEC, tmp_path / "accepted.jsonl") as sendgrid:
        sendgrid.delay = 0.1  # 40 requests: the send lasts several seconds
        env = scheduler_env(database_url, tmp_path, sendgrid)
        first, second = start(env, tmp_path / "a.log"), start(env, tmp_path / "b.log")
        try:
            wait_until(
                lambda: sorted(roles(engine).values()) == ["leader", "standby"], what="a leader and a standby"
            )
            leader, standby = (first, second) if roles(engine)[first.pid] == "leader" else (second, first)
            wait_until(lambda: sendgrid.requests >= 3, what="the leader sending")
            assert issue_is(engine, IssueStatus.sending)
            assert standby.poll() is None
            leader.kill()  # SIGKILL: no cleanup; the server frees its lock when the connection drops
            leader.wait()
            wait_until(
                lambda: issue_is(engine, IssueStatus.sent), timeout=60, what="the standby finishing the send"
            )
            standby.send_signal(signal.SIGTERM)
            assert standby.wait(timeout=30) == 0
        finally:
            for process in (first, second):
                if process.poll() is None:
                    process.kill()
                    process.wait()
        counts = accepted(sendgrid)

    issue = the_issue(engine)
    assert issue is not None
    assert issue.number == 1
    assert statuses(engine, 1) == dict.fromkeys(active, DeliveryStatus.sent)
    assert set(counts) == set(active)  # everyone, and no one who is not active
    # The one window the design leaves: the batch SendGrid accepted while the killed leader never
    # recorded it is sent again once its lease runs out. At most one batch, nothing else twice.
    assert sum(count - 1 for count in counts.values()) <= BATCH
    standby_log = tmp_path / ("b.log" if standby is second else "a.log")
    said = messages(standby_log)
    assert said[0] == "standby: another scheduler leads; taking over when it stops"
    assert any(line.startswith("leading:") for line in said)
    assert any(line.startswith(("compose-and-send (ok)", "send (ok)")) and " sent" in line for line in said)


def test_sigterm_during_a_send_then_a_restart_gives_everyone_the_issue_once(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    active = audience(engine, 200)
    log = tmp_path / "scheduler.log"
    with SendGridStandIn(KEY, SPEC, tmp_path / "accepted.jsonl") as sendgrid:
        sendgrid.delay = 0.1
        env = scheduler_env(database_url, tmp_path, sendgrid)
        process = start(env, log)
        try:
            wait_until(lambda: sendgrid.requests >= 3, what="the send under way")
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0
        finally:
            if process.poll() is None:
                process.kill()
        # It finished the batch in hand and recorded it: what SendGrid accepted is what the ledger says.
        half = statuses(engine, 1)
        sent_so_far = {address for address, status in half.items() if status == DeliveryStatus.sent}
        assert set(accepted(sendgrid)) == sent_so_far
        assert 0 < len(sent_so_far) < len(active)
        assert DeliveryStatus.sending not in half.values()  # nothing left leased: no batch in doubt
        assert issue_is(engine, IssueStatus.sending)
        with unit_of_work(engine) as session:
            run = session.get(JobRun, runs.CYCLE)
        assert run is not None
        assert run.outcome == "interrupted"

        process = start(env, log)
        try:
            wait_until(lambda: issue_is(engine, IssueStatus.sent), timeout=60, what="the restarted send")
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0
        finally:
            if process.poll() is None:
                process.kill()
        counts = accepted(sendgrid)

    assert counts == Counter(active)  # every subscriber exactly once: a graceful stop leaves no window
    assert statuses(engine, 1) == dict.fromkeys(active, DeliveryStatus.sent)
    said = messages(log)
    assert said.count("stopped") == 2
    levels = {str(record["level"]) for record in records(log)}
    assert levels <= {"INFO", "WARNING"}, levels


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_leader_that_loses_its_lock_connection_stands_by_and_leads_again(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    log = tmp_path / "scheduler.log"
    with SendGridStandIn(KEY, SPEC, tmp_path / "accepted.jsonl") as sendgrid:
        process = start(scheduler_env(database_url, tmp_path, sendgrid), log)
        try:
            wait_until(lambda: roles(engine).get(process.pid) == "leader", what="the leader")
            # The server ends the connection that holds the lock (a restart or a network cut does the same).
            with engine.begin() as connection:
                cut = connection.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_locks"
                        " WHERE locktype = 'advisory' AND granted"
                        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                    )
                ).all()
            assert cut == [(True,)]
            # It stops acting as leader, stands by, and with nobody else there takes the lead again.
            wait_until(lambda: "standing by to lead again" in log.read_text(encoding="utf-8"), what="standby")
            wait_until(lambda: leading_twice(log), what="the lead again")
            assert process.poll() is None  # it rode through instead of exiting
            assert roles(engine).get(process.pid) == "leader"
        finally:
            process.terminate()
            process.wait(timeout=20)
    output = log.read_text(encoding="utf-8")
    assert "lost the lead: stopping its jobs so that a standby (or itself) takes over" in output
    assert "error:" not in output


def leading_twice(log: Path) -> bool:
    return sum("leading: " in line for line in log.read_text(encoding="utf-8").splitlines()) >= 2
