"""What ops see: ``GET /healthz``, ``GET /metrics`` (parsed with prometheus_client's own parser), the
scheduler lines of ``digest status`` on SQLite and PostgreSQL, and JSON log lines.

The state they report is made through the services: a real send through the ledger (with a mailer that
fails one address for good and another once), job runs, heartbeats, a paused send.
"""

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from digest.config import Settings
from digest.db.engine import unit_of_work
from digest.db.models import JobRun
from digest.errors import TransientMailError
from digest.issues import queries as issue_queries
from digest.logs import configure_logging
from digest.mail import sendgrid_events
from digest.ops import runs
from digest.ops.cycle import ingest_recorded
from digest.rendering import Renderer
from digest.sending import ledger
from digest.sources.folder import FolderSource
from digest.subscribers.events import record_events
from digest.web.app import create_app
from digest.wiring import Parts
from tests.support import whole_issue
from tests.support.cli import Digest
from tests.support.ops import samples
from tests.support.sending import SITE, T0, Flaky, approved_issue, audience, make_sender
from tests.support.sending import ledger as ledger_rows

EVERY = timedelta(seconds=15)


def beats(engine: Engine, *, age: timedelta = timedelta(0)) -> datetime:
    """A leader that beat ``age`` ago and a standby that beat just now; returns the leader's beat."""
    now = datetime.now(UTC)
    planned = {runs.CYCLE: "2026-11-30T07:00:00+00:00", runs.INGEST: "2026-11-26T10:00:00+00:00"}
    runs.beat(
        engine,
        holder="sched-a:101",
        role="leader",
        every=EVERY,
        started_at=now,
        now=now - age,
        next_runs=planned,
    )
    runs.beat(engine, holder="sched-b:202", role="standby", every=EVERY, started_at=now, now=now)
    return now - age


def sent_issue(engine: Engine, tmp_path: Path) -> list[str]:
    """Issue 1 sent to 6 active subscribers: one refused for good, one after a transient error."""
    number = approved_issue(engine, tmp_path)
    active = audience(engine, 6)
    mailer = Flaky(active[1], TransientMailError("421 try again later"), times=1)
    mailer.fail_for(active[0])  # a permanent refusal
    sender = make_sender(engine, mailer, batch_size=2)
    ticks = iter(range(1000))
    sender.clock = lambda: T0 + timedelta(seconds=next(ticks))  # the send takes a few "seconds"
    report = sender.send(number)
    assert (report.sent, report.failed) == (5, 1)
    return active


def test_healthz_without_a_scheduler_is_unhealthy(client: TestClient) -> None:
    answer = client.get("/healthz")

    assert answer.status_code == 503
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert body["status"] == "unhealthy"
    assert body["checks"]["database"] == {"ok": True}
    assert body["checks"]["scheduler"]["ok"] is False
    assert body["checks"]["scheduler"]["status"] == "absent"
    assert body["checks"]["last_send"] == {"ok": True, "status": "none yet"}


def test_healthz_with_a_live_scheduler_and_a_sent_issue(
    client: TestClient, engine: Engine, tmp_path: Path
) -> None:
    sent_issue(engine, tmp_path)
    beat_at = beats(engine)

    answer = client.get("/healthz")

    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "ok"
    scheduler = body["checks"]["scheduler"]
    assert scheduler["ok"] is True
    assert scheduler["status"] == "leading"
    assert scheduler["leader"] == "sched-a:101"
    assert scheduler["standbys"] == ["sched-b:202"]
    assert scheduler["heartbeat_at"] == beat_at.isoformat()
    assert 0 <= scheduler["age_seconds"] < 5
    assert scheduler["max_age_seconds"] == 45
    assert scheduler["next_runs"][runs.CYCLE] == "2026-11-30T07:00:00+00:00"
    last_send = body["checks"]["last_send"]
    assert last_send["ok"] is True
    assert (last_send["status"], last_send["issue"]) == ("sent", 1)
    assert last_send["deliveries"] == {
        "pending": 0,
        "sending": 0,
        "sent": 5,
        "failed": 1,
        "skipped": 0,
        "unmatched": 0,
    }


def test_healthz_reports_a_stale_heartbeat_and_a_paused_send(
    client: TestClient, engine: Engine, tmp_path: Path
) -> None:
    number = approved_issue(engine, tmp_path)
    audience(engine, 2)
    with unit_of_work(engine) as session:
        issue = issue_queries.get_issue(session, number)
        ledger.begin(session, issue, now=T0, variants=whole_issue)
    ledger.pause(engine, issue.id or 0, "the mail backend refuses to send: 401", now=T0)
    beats(engine, age=timedelta(minutes=2))

    answer = client.get("/healthz")

    assert answer.status_code == 503
    checks = answer.json()["checks"]
    assert checks["database"]["ok"] is True
    assert checks["scheduler"]["ok"] is False
    assert checks["scheduler"]["status"] == "stale"
    assert checks["scheduler"]["age_seconds"] >= 120
    assert "is `digest scheduler` running" in checks["scheduler"]["message"]
    assert checks["last_send"] == {
        "ok": False,
        "status": "paused",
        "issue": number,
        "reason": "the mail backend refuses to send: 401",
        "paused_at": T0.isoformat(),
        "message": "fix the cause, then run `digest send --resume`",
    }


@pytest.fixture
def unreachable(tmp_path: Path) -> Iterator[TestClient]:
    """The web app on a database that cannot be opened."""
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'no-such-folder' / 'digest.db'}")
    parts = Parts(settings)
    with TestClient(create_app(parts)) as client:
        yield client
    parts.close()


def test_healthz_when_the_database_is_unreachable(unreachable: TestClient) -> None:
    answer = unreachable.get("/healthz")

    assert answer.status_code == 503
    checks = answer.json()["checks"]
    assert checks["database"]["ok"] is False
    assert "unable to open database file" in checks["database"]["error"]
    assert checks["scheduler"] == {"ok": False, "status": "unknown"}


def test_metrics_in_prometheus_text_format(client: TestClient, engine: Engine, tmp_path: Path) -> None:
    active = sent_issue(engine, tmp_path)
    complaint = {
        "event": "spamreport",
        "email": active[2],
        "timestamp": int((T0 + timedelta(hours=2)).timestamp()),
        "sg_event_id": "evt-metrics-1",
        "issue": "1",
        "delivery": str(ledger_rows(engine, 1)[active[2]].id),  # the custom args every message carries
    }
    batch = sendgrid_events.parse(json.dumps([complaint]).encode(), now=T0 + timedelta(hours=2))
    with unit_of_work(engine) as session:
        record_events(
            session, batch.events, received=batch.received, now=T0 + timedelta(hours=2), blocked_in_a_row=3
        )
    (ingest,) = ingest_recorded(engine, [FolderSource(tmp_path / "summaries")], Renderer(SITE), now=T0)
    assert ingest.error is None
    beat_at = beats(engine)
    with unit_of_work(engine) as session:
        issue = issue_queries.get_issue(session, 1)
        run = session.get(JobRun, runs.INGEST)
    assert issue.send_started_at is not None
    assert issue.sent_at is not None
    assert run is not None
    assert run.succeeded_at is not None

    answer = client.get("/metrics")

    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    got = samples(answer.text)

    def value(name: str, **labels: str) -> Any:
        return got[(name, tuple(sorted(labels.items())))]

    states = {"pending": 1, "active": 5, "unsubscribed": 1, "bounced": 1, "complained": 2}  # one complained
    for state, count in states.items():
        assert value("digest_subscribers", state=state) == count
    assert value("digest_last_send_issue") == 1
    for status, count in {"pending": 0, "sending": 0, "sent": 5, "failed": 1, "skipped": 0}.items():
        assert value("digest_last_send_deliveries", status=status) == count
    assert value("digest_last_send_provider_errors", kind="failed") == 1
    assert value("digest_last_send_provider_errors", kind="retried") == 1
    duration = (issue.sent_at - issue.send_started_at).total_seconds()
    assert duration > 0
    assert value("digest_last_send_duration_seconds") == duration
    assert value("digest_last_send_rate_per_second") == pytest.approx(5 / duration)
    assert value("digest_send_paused") == 0
    assert value("digest_last_send_bounce_ratio") == 0
    assert value("digest_last_send_complaint_ratio") == pytest.approx(1 / 5)  # one of 5 delivered
    assert value("digest_sources_failing") == 0
    assert value("digest_last_success_timestamp_seconds", step="ingest") == run.succeeded_at.timestamp()
    assert value("digest_last_success_timestamp_seconds", step="compose") == issue.created_at.timestamp()
    assert value("digest_last_success_timestamp_seconds", step="send") == issue.sent_at.timestamp()
    assert value("digest_job_last_run_failed", job=runs.INGEST) == 0
    assert value("digest_scheduler_heartbeat_timestamp_seconds") == beat_at.timestamp()
    assert value("digest_scheduler_standbys") == 1
    assert "# HELP digest_last_send_provider_errors " in answer.text
    assert "# TYPE digest_subscribers gauge" in answer.text


def test_metrics_of_a_fresh_database_leave_out_what_has_not_happened(client: TestClient) -> None:
    got = samples(client.get("/metrics").text)

    names = {name for name, _ in got}
    assert ("digest_subscribers", (("state", "active"),)) in got
    assert "digest_last_send_issue" not in names
    assert "digest_last_success_timestamp_seconds" not in names
    assert "digest_scheduler_heartbeat_timestamp_seconds" not in names
    assert got[("digest_send_paused", ())] == 0
    assert "digest_last_send_complaint_ratio" not in names


def test_status_shows_the_scheduler_and_the_last_runs(digest: Digest, engine: Engine, tmp_path: Path) -> None:
    assert "scheduler: none leads (start `digest scheduler`); no standby" in digest("status").stdout

    ingest_recorded(engine, [FolderSource(tmp_path / "missing")], Renderer(SITE), now=T0)
    beats(engine)
    shown = digest("status").stdout

    assert "scheduler: leader sched-a:101, heartbeat 0s ago; standby: sched-b:202" in shown
    assert (
        "scheduler's next runs: compose-and-send Mon 2026-11-30 07:00:00 UTC, ingest Thu 2026-11-26 10:00:00"
        in shown
    )
    assert f"last ingest: failed at {datetime.now(UTC):%Y-%m-%d}" in shown
    assert f"{tmp_path / 'missing'}: failed: source {tmp_path / 'missing'}: no such folder" in shown

    beats(engine, age=timedelta(minutes=5))
    assert (
        "scheduler: STALE: the leader sched-a:101 last beat 300s ago (every 15s)" in digest("status").stdout
    )


def test_json_logs_are_one_object_per_line(capsys: pytest.CaptureFixture[str]) -> None:
    log = logging.getLogger("digest.test")
    undo = configure_logging("json")
    try:
        log.info("sent %d messages", 3, extra={"job": "send", "color_message": "\x1b[36msent\x1b[0m"})
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("the job failed")
    finally:
        undo()
    log.info("after undo: not ours to print")

    first, second = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert set(first) == {"time", "level", "logger", "message", "job"}
    assert (first["level"], first["logger"], first["message"], first["job"]) == (
        "INFO",
        "digest.test",
        "sent 3 messages",
        "send",
    )
    assert datetime.fromisoformat(first["time"]).tzinfo is not None
    assert second["level"] == "ERROR"
    assert second["exception"].endswith("ValueError: boom")
