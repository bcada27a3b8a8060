"""Control over a send: several workers sharing it, a rate cap, and pausing on an error storm."""

import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from digest.db.engine import unit_of_work
from digest.db.models import DeliveryStatus, IssueStatus
from digest.devtools.sendgrid_standin import SendGridStandIn
from digest.errors import InvalidState, TransientMailError
from digest.issues import queries as issue_queries
from digest.mail import MemoryMailer
from digest.rendering import Renderer
from digest.sending import ledger as ledger_service
from digest.sending.sender import IssueSender, SendSettings
from tests.support import whole_issue
from tests.support.sendgrid import KEY, SPEC, send_env
from tests.support.sending import (
    BASE_URL,
    FROM,
    SITE,
    T0,
    TOKENS,
    approved_issue,
    audience,
    issue_status,
    statuses,
)


def start_send(engine: Engine, number: int) -> None:
    """Move the issue to ``sending`` with its ledger written, as `digest send` does first."""
    with unit_of_work(engine) as session:
        issue = issue_queries.get_issue(session, number)
        ledger_service.begin(session, issue, now=T0, variants=whole_issue)


def test_two_worker_processes_share_a_send_and_nobody_gets_it_twice(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    number = approved_issue(engine, tmp_path)
    active = audience(engine, 400)
    start_send(engine, number)
    with SendGridStandIn(KEY, SPEC, tmp_path / "accepted.jsonl") as sendgrid:
        sendgrid.delay = 0.05  # each request takes a little while, so the two workers overlap
        env = send_env(database_url, sendgrid, batch=20)
        workers = [
            subprocess.Popen(
                [sys.executable, "-m", "digest", "worker", "--once"],
                env=env,
                cwd=tmp_path,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        outputs = [worker.communicate(timeout=120) for worker in workers]
        accepted = Counter(str(line["email"]) for line in sendgrid.recorded())
    for worker, (_, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err
    assert accepted == Counter(active)  # everyone once, nobody twice, nobody who is not active
    assert statuses(engine, number) == dict.fromkeys(active, DeliveryStatus.sent)
    assert issue_status(engine, number) == IssueStatus.sent
    if engine.dialect.name == "postgresql":  # SKIP LOCKED lets both work at once; SQLite takes turns
        shares = [int(out.split(": ")[1].split(" sent")[0]) for out, _ in outputs]
        assert all(share > 0 for share in shares), outputs
        assert sum(shares) == len(active)


def sender(engine: Engine, mailer: MemoryMailer, **settings: object) -> IssueSender:
    settings_ = SendSettings(from_=FROM, base_url=BASE_URL, **settings)  # type: ignore[arg-type]
    made = IssueSender(engine, mailer, TOKENS, settings_, Renderer(SITE))
    made.clock = lambda: T0 + timedelta(hours=1)
    return made


def test_a_rate_cap_spreads_the_send_out(engine: Engine, tmp_path: Path) -> None:
    number = approved_issue(engine, tmp_path)
    audience(engine, 60)
    started = time.monotonic()
    report = sender(engine, MemoryMailer(), rate=100.0, batch_size=10).send(number)
    assert report.sent == 60
    # 60 messages at 100 a second cannot take less than about half a second.
    assert time.monotonic() - started >= 0.5


def test_an_error_storm_pauses_the_send_until_resumed(engine: Engine, tmp_path: Path) -> None:
    number = approved_issue(engine, tmp_path)
    active = audience(engine, 30)
    broken = MemoryMailer()
    for address in active:
        broken.fail_for(address, TransientMailError("421 4.3.2 service not available"))
    report = sender(engine, broken, pause_after_errors=5, batch_size=10).send(number)
    assert report.sent == 0
    assert report.paused is not None
    assert "10 messages in a row failed" in report.paused
    assert "421 4.3.2 service not available" in report.paused
    with unit_of_work(engine) as session:
        paused = issue_queries.paused_issue(session)
        assert paused is not None
        assert paused.number == number
        assert issue_queries.next_issue_to_send(session) is None  # a paused send waits for --resume

    with pytest.raises(InvalidState, match="digest send --resume"):
        sender(engine, MemoryMailer()).send(number)
    fixed = MemoryMailer()
    resumed = sender(engine, fixed, pause_after_errors=5, batch_size=10).send(number, resume=True)
    assert resumed.sent == 30
    assert sorted(message.to for message in fixed.sent) == sorted(active)
    assert issue_status(engine, number) == IssueStatus.sent
