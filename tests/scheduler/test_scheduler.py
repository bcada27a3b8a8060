"""The scheduler on a controlled clock (time-machine moves the process's clock; everything else is real):
the weekly job fires at its time, a missed time is skipped with a reason, and the autumn clock change
that fires a 02:30 job twice gives one issue. SQLite and PostgreSQL.

The real APScheduler ``BlockingScheduler`` runs in a thread of the test, with the real lock, database,
sources and outbox; ``tests/scheduler/test_scheduler_processes.py`` runs ``digest scheduler`` processes.
"""

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import Engine
from sqlmodel import col, select

from digest.config import Settings
from digest.core.schedule import cron_trigger, fire_after, latest_fire, period_key
from digest.db.engine import unit_of_work
from digest.db.models import Issue, IssueItem, IssueStatus, JobRun, Summary
from digest.issues.decisions import decide
from digest.ops import runs
from digest.scheduler.leader import leadership_for
from digest.scheduler.runner import SchedulerProcess
from digest.wiring import Parts
from tests.support import read_outbox, summary, write_summaries
from tests.support.scheduler import wait_until
from tests.support.sending import add_subscriber

BERLIN = ZoneInfo("Europe/Berlin")


def make_parts(database_url: str, tmp_path: Path, **settings: object) -> Parts:
    values: dict[str, object] = {
        "database_url": database_url,
        "outbox_dir": tmp_path / "outbox",
        "sources": str(tmp_path / "summaries"),
        "base_url": "https://digest.example.org",
        "from_": "Research Digest <digest@news.example.org>",
        "postal_address": "Research Digest, 1 Example Street, Springfield",
        "heartbeat_every": timedelta(seconds=1),
        **settings,
    }
    return Parts(Settings(**values))  # type: ignore[arg-type]


@contextmanager
def running(parts: Parts, database_url: str) -> Iterator[SchedulerProcess]:
    """A scheduler running in a thread until the block ends; it must end without an error."""
    process = SchedulerProcess(parts, leadership_for(database_url))
    codes: list[int] = []

    def run() -> None:
        process.run()
        codes.append(0)

    thread = threading.Thread(target=run, name="scheduler-under-test")
    thread.start()
    try:
        yield process
    finally:
        process.stop()
        thread.join(timeout=30)
        parts.close()
    assert not thread.is_alive()
    assert codes == [0]


def issues(engine: Engine) -> list[Issue]:
    with unit_of_work(engine) as session:
        return list(session.exec(select(Issue).order_by(col(Issue.number))))


def cycle_run(engine: Engine) -> JobRun | None:
    with unit_of_work(engine) as session:
        return session.get(JobRun, runs.CYCLE)


def test_the_weekly_job_fires_at_its_time(
    engine: Engine, database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monday_7 = datetime(2026, 11, 23, 7, 0, tzinfo=BERLIN)
    write_summaries(
        tmp_path / "summaries",
        "week.json",
        [summary(n, published_at=monday_7 - timedelta(days=n)) for n in range(1, 4)],
    )
    for n in range(3):
        add_subscriber(engine, f"reader{n}@example.org")
    parts = make_parts(database_url, tmp_path, schedule="0 7 * * mon", timezone="Europe/Berlin")
    caplog.set_level(logging.INFO, logger="digest")

    with time_machine.travel(monday_7 - timedelta(seconds=2), tick=True), running(parts, database_url):
        wait_until(lambda: [i.status for i in issues(engine)] == [IssueStatus.sent], what="issue 1 sent")
        composed_at = datetime.now(BERLIN)

    (issue,) = issues(engine)
    assert issue.period == "2026-11-23T06:00Z"  # Monday 07:00 in Berlin is 06:00 UTC in November
    assert issue.created_at >= monday_7  # composed at the scheduled time, not when the scheduler started
    assert issue.created_at <= composed_at
    assert sorted(str(message["To"]) for message in read_outbox(tmp_path / "outbox")) == [
        f"reader{n}@example.org" for n in range(3)
    ]
    run = cycle_run(engine)
    assert run is not None
    assert run.outcome == "ok"
    assert "composed issue 1 for the period of 2026-11-23T06:00Z" in run.detail
    # The scheduler started two seconds before 07:00. The previous Monday's time had no run, and a week
    # is far beyond the grace time: that run was skipped, with the reason and what to do.
    skipped = [r.getMessage() for r in caplog.records if r.getMessage().startswith("skipped the compose")]
    assert len(skipped) == 1
    assert "2026-11-16T07:00:00+01:00" in skipped[0]
    assert "more than DIGEST_MISFIRE_GRACE (6:00:00)" in skipped[0]
    assert "run `digest run`" in skipped[0]


def test_a_scheduler_back_within_the_grace_time_runs_the_missed_time_once(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    monday_7 = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
    write_summaries(tmp_path / "summaries", "one.json", summary(1, published_at=monday_7 - timedelta(days=1)))
    add_subscriber(engine, "reader@example.org")
    parts = make_parts(database_url, tmp_path, schedule="0 7 * * mon")

    # Down at 07:00, back at 09:00: within the 6 hours of grace, so the 07:00 run happens now, once.
    with time_machine.travel(monday_7 + timedelta(hours=2), tick=True), running(parts, database_url):
        wait_until(lambda: [i.status for i in issues(engine)] == [IssueStatus.sent], what="issue 1 sent")

    (issue,) = issues(engine)
    assert issue.period == "2026-11-23T07:00Z"
    assert len(read_outbox(tmp_path / "outbox")) == 1


def test_the_review_window_lets_an_editor_hold_the_issue_and_approve_it_later(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    monday_7 = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
    write_summaries(tmp_path / "summaries", "one.json", summary(1, published_at=monday_7 - timedelta(days=1)))
    add_subscriber(engine, "reader@example.org")
    parts = make_parts(database_url, tmp_path, schedule="0 7 * * mon", review_window=timedelta(hours=1))
    outbox = tmp_path / "outbox"

    with (
        time_machine.travel(monday_7 - timedelta(seconds=2), tick=True) as clock,
        running(parts, database_url) as process,
    ):
        wait_until(lambda: [i.status for i in issues(engine)] == [IssueStatus.draft], what="the draft")
        scheduler = process.scheduler
        assert scheduler is not None
        # The job plans the send once it has recorded its run, a moment after the draft is committed.
        wait_until(lambda: scheduler.get_job(runs.SEND) is not None, what="the send planned")
        send_job = scheduler.get_job(runs.SEND)
        window_end = monday_7 + timedelta(hours=1)  # an hour after the draft was composed
        assert window_end <= send_job.next_run_time < window_end + timedelta(seconds=5)
        with unit_of_work(engine) as session:
            decide(session, 1, IssueStatus.held, by="editor", now=monday_7)

        clock.move_to(window_end - timedelta(seconds=1))
        scheduler.wakeup()

        def send_ran() -> bool:
            with unit_of_work(engine) as session:
                run = session.get(JobRun, runs.SEND)
            return run is not None and run.outcome == "ok"

        wait_until(send_ran, what="the send at the end of the review window")
        assert [i.status for i in issues(engine)] == [IssueStatus.held]  # held: the window did not approve it
        assert read_outbox(outbox) == []

        with unit_of_work(engine) as session:
            decide(session, 1, IssueStatus.approved, by="editor", now=datetime.now(UTC))
        # The heartbeat notices an approved issue and plans its send at once.
        wait_until(
            lambda: [i.status for i in issues(engine)] == [IssueStatus.sent], what="the approved issue sent"
        )

    assert [str(message["To"]) for message in read_outbox(outbox)] == ["reader@example.org"]


def test_the_autumn_clock_change_fires_0230_twice_and_gives_one_issue(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    first = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST
    second = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)  # 02:30 CET, an hour later
    folder = tmp_path / "summaries"
    write_summaries(folder, "week.json", [summary(n, published_at=first - timedelta(days=n)) for n in (1, 2)])
    add_subscriber(engine, "reader@example.org")
    parts = make_parts(database_url, tmp_path, schedule="30 2 * * *", timezone="Europe/Berlin")

    with (
        time_machine.travel(first - timedelta(seconds=2), tick=True) as clock,
        running(parts, database_url) as process,
    ):
        wait_until(lambda: [i.status for i in issues(engine)] == [IssueStatus.sent], what="issue 1 sent")
        # Something new is published between the two fires: a second issue would have something to hold.
        write_summaries(folder, "late.json", summary(9, published_at=first + timedelta(minutes=20)))
        clock.move_to(second - timedelta(seconds=2))
        assert process.scheduler is not None
        process.scheduler.wakeup()  # it was sleeping until the second 02:30, an hour away on its clock

        def fired_again() -> bool:
            run = cycle_run(engine)
            return run is not None and run.started_at >= second and run.outcome == "ok"

        wait_until(fired_again, what="the second 02:30 run")

    run = cycle_run(engine)
    assert run is not None
    assert run.detail.startswith("nothing to compose for the period of 2026-10-25T00:30Z")
    (issue,) = issues(engine)
    assert issue.period == "2026-10-25T00:30Z"
    assert len(read_outbox(tmp_path / "outbox")) == 1
    with unit_of_work(engine) as session:
        late = session.exec(select(Summary).where(Summary.source_id == "test-009")).one()
        held = session.exec(select(IssueItem).where(IssueItem.summary_id == late.id)).first()
    assert held is None  # ingested at the second fire, and waiting for the next day's issue


def test_the_two_fires_of_a_repeated_time_name_one_period() -> None:
    trigger = cron_trigger("30 2 * * *", "Europe/Berlin")
    fires: list[datetime] = []
    fire = trigger.get_next_fire_time(None, datetime(2026, 10, 24, 12, 0, tzinfo=UTC))
    while fire is not None and len(fires) < 3:
        fires.append(fire)
        fire = fire_after(trigger, fire)
    assert [f.astimezone(UTC).strftime("%d %H:%M") for f in fires] == ["25 00:30", "25 01:30", "26 01:30"]
    assert [period_key(f) for f in fires] == ["2026-10-25T00:30Z", "2026-10-25T00:30Z", "2026-10-26T01:30Z"]
    # Looking back from after the second fire ends (it used to loop on the repeated time forever).
    latest = latest_fire(trigger, datetime(2026, 10, 25, 3, 0, tzinfo=UTC))
    assert latest is not None
    assert latest.astimezone(UTC) == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
