"""What the scheduled jobs leave for ops: the last run of each job, and the schedulers' heartbeats.

Job runs are recorded by whoever runs the job (``digest scheduler``, ``digest run``, ``digest ingest``),
so ``digest status``, ``/healthz`` and ``/metrics`` read one truth whichever way the jobs are run.
"""

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete
from sqlmodel import Session, col, select

from digest.db.engine import unit_of_work
from digest.db.models import JobRun, SchedulerHeartbeat

log = logging.getLogger("digest.runs")

# Job names, also the scheduler's job ids.
INGEST = "ingest"
CYCLE = "compose-and-send"
SEND = "send"

# A heartbeat this many intervals old means its process is gone.
STALE_AFTER_BEATS = 3
# Rows of schedulers gone this long are dropped, so restarts do not pile up rows.
FORGET_AFTER = timedelta(days=1)


@dataclass
class RunNote:
    """What a job says about its run: ``ok``, ``failed`` or ``interrupted``, and a line for ops."""

    outcome: str = "ok"
    detail: str = ""


@contextmanager
def recorded(engine: Engine, name: str, *, clock: Callable[[], datetime]) -> Iterator[RunNote]:
    """Record the run of job ``name``: started now, then its outcome; an exception records ``failed``."""
    write_run(engine, name, outcome="running", detail="", now=clock(), starting=True)
    note = RunNote()
    try:
        yield note
    except BaseException as exc:
        write_run(engine, name, outcome="failed", detail=f"{type(exc).__name__}: {exc}", now=clock())
        raise
    write_run(engine, name, outcome=note.outcome, detail=note.detail, now=clock())


def write_run(
    engine: Engine, name: str, *, outcome: str, detail: str, now: datetime, starting: bool = False
) -> None:
    with unit_of_work(engine) as session:
        run = session.get(JobRun, name) or JobRun(name=name, outcome=outcome, started_at=now)
        run.outcome = outcome
        run.detail = detail
        if starting:
            run.started_at = now
            run.finished_at = None
        else:
            run.finished_at = now
        if outcome == "ok":
            run.succeeded_at = now
        session.add(run)


def job_runs(session: Session) -> dict[str, JobRun]:
    return {run.name: run for run in session.exec(select(JobRun))}


def last_success(session: Session, name: str) -> datetime | None:
    run = session.get(JobRun, name)
    return run.succeeded_at if run else None


# --- heartbeats ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Beat:
    """One scheduler process as the last heartbeat left it."""

    holder: str
    role: str
    every: timedelta
    started_at: datetime
    beat_at: datetime
    next_runs: dict[str, str]

    def age(self, now: datetime) -> timedelta:
        return now - self.beat_at

    def fresh(self, now: datetime) -> bool:
        return self.age(now) <= self.every * STALE_AFTER_BEATS


def beat(
    engine: Engine,
    *,
    holder: str,
    role: str,
    every: timedelta,
    started_at: datetime,
    now: datetime,
    next_runs: dict[str, str] | None = None,
) -> None:
    """Write this process's heartbeat (one row per holder) and forget schedulers long gone."""
    with unit_of_work(engine) as session:
        row = session.exec(select(SchedulerHeartbeat).where(SchedulerHeartbeat.holder == holder)).first()
        if row is None:
            row = SchedulerHeartbeat(
                holder=holder, role=role, every_seconds=0, started_at=started_at, beat_at=now
            )
        row.role = role
        row.every_seconds = every.total_seconds()
        row.started_at = started_at
        row.beat_at = now
        row.next_runs = dict(next_runs or {})
        session.add(row)
        session.execute(
            delete(SchedulerHeartbeat).where(col(SchedulerHeartbeat.beat_at) < now - FORGET_AFTER)
        )


@dataclass(frozen=True)
class Schedulers:
    """Every scheduler that beat recently: the leader (the newest one that says so) and the standbys."""

    leader: Beat | None
    standbys: list[Beat]


def schedulers(session: Session, now: datetime) -> Schedulers:
    beats = [
        Beat(
            holder=row.holder,
            role=row.role,
            every=timedelta(seconds=row.every_seconds),
            started_at=row.started_at,
            beat_at=row.beat_at,
            next_runs=dict(row.next_runs),
        )
        for row in session.exec(select(SchedulerHeartbeat).order_by(col(SchedulerHeartbeat.beat_at).desc()))
    ]
    leader = next((b for b in beats if b.role == "leader"), None)
    standbys = [b for b in beats if b.role == "standby" and b.fresh(now)]
    return Schedulers(leader=leader, standbys=standbys)
