"""What ops watch, read from the database: the checks of ``/healthz`` and the readings of ``/metrics``.

Everything is derived from the database (issues, the delivery ledger, job runs, heartbeats), not from
counters in one process's memory: every web process answers the same, and a restart loses nothing.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, func, select

from digest.db.engine import require_current_schema, unit_of_work
from digest.db.models import PUBLISHED, Delivery, DeliveryStatus, Issue, JobRun
from digest.engagement.report import IssueReport, recent_reports
from digest.errors import DatabaseError
from digest.ingest.source_states import source_states
from digest.issues.queries import paused_issue
from digest.ops import runs
from digest.ops.rates import IssueRates, issue_rates
from digest.sending.counts import VariantCounts, variant_counts
from digest.sending.waves import WaveState, fixed, in_progress_and_next
from digest.subscribers.records import counts_by_state


@dataclass
class Check:
    ok: bool
    detail: dict[str, Any]


@dataclass
class Health:
    database: Check
    scheduler: Check
    send: Check

    @property
    def ok(self) -> bool:
        return self.database.ok and self.scheduler.ok and self.send.ok

    def as_json(self) -> dict[str, Any]:
        checks = {"database": self.database, "scheduler": self.scheduler, "last_send": self.send}
        return {
            "status": "ok" if self.ok else "unhealthy",
            "checks": {name: {"ok": check.ok, **check.detail} for name, check in checks.items()},
        }


def check_health(engine: Engine, *, now: datetime) -> Health:
    try:
        with unit_of_work(engine) as session:
            return Health(Check(True, {}), scheduler_check(session, now), send_check(session))
    except SQLAlchemyError as exc:
        reason = first_line(exc)
        unknown = Check(False, {"status": "unknown"})
        return Health(Check(False, {"error": reason}), unknown, unknown)


def check_ready(engine: Engine) -> Check:
    """Whether this web process can serve requests: the database answers and its schema is current.
    Unlike ``check_health`` it ignores the scheduler and the sends, which no web process can mend, so a
    load balancer never takes every web process out because the scheduler is down."""
    try:
        require_current_schema(engine)
    except DatabaseError as exc:
        return Check(False, {"error": str(exc)})
    except SQLAlchemyError as exc:
        return Check(False, {"error": first_line(exc)})
    return Check(True, {})


def first_line(exc: SQLAlchemyError) -> str:
    return str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]


def scheduler_check(session: Session, now: datetime) -> Check:
    found = runs.schedulers(session, now)
    standbys = [beat.holder for beat in found.standbys]
    leader = found.leader
    if leader is None:
        message = "no `digest scheduler` leads: start one (see the README's operations section)"
        return Check(False, {"status": "absent", "standbys": standbys, "message": message})
    detail: dict[str, Any] = {
        "leader": leader.holder,
        "heartbeat_at": leader.beat_at.isoformat(),
        "age_seconds": round(leader.age(now).total_seconds(), 1),
        "max_age_seconds": (leader.every * runs.STALE_AFTER_BEATS).total_seconds(),
        "standbys": standbys,
        "next_runs": leader.next_runs,
    }
    if leader.fresh(now):
        return Check(True, {"status": "leading", **detail})
    message = "the leader's heartbeat is stale: is `digest scheduler` running and can it reach the database?"
    return Check(False, {"status": "stale", **detail, "message": message})


def send_check(session: Session) -> Check:
    """The last send; a paused one is unhealthy: it waits for ops."""
    paused = paused_issue(session)
    if paused is not None:
        return Check(
            False,
            {
                "status": "paused",
                "issue": paused.number,
                "reason": paused.paused_reason,
                "paused_at": paused.paused_at.isoformat() if paused.paused_at else None,
                "message": "fix the cause, then run `digest send --resume`",
            },
        )
    issue = last_send(session)
    if issue is None:
        return Check(True, {"status": "none yet"})
    counts, _ = ledger_figures(session, issue.id or 0)
    return Check(
        True,
        {
            "status": issue.status,
            "issue": issue.number,
            "started_at": issue.send_started_at.isoformat() if issue.send_started_at else None,
            "sent_at": issue.sent_at.isoformat() if issue.sent_at else None,
            "deliveries": counts,
        },
    )


def last_send(session: Session) -> Issue | None:
    return session.exec(
        select(Issue).where(col(Issue.status).in_(PUBLISHED)).order_by(col(Issue.number).desc())
    ).first()


def ledger_figures(session: Session, issue_id: int) -> tuple[dict[str, int], dict[str, int]]:
    """Deliveries of one issue by status, and provider errors by kind, in one pass over its ledger.

    ``failed``: given up (a permanent refusal, or transient errors ``MAX_ATTEMPTS`` times);
    ``retried``: a transient error, then back in the queue (most of these were sent later).
    """
    counts = {status.value: 0 for status in DeliveryStatus}
    errors = {"failed": 0, "retried": 0}
    rows = session.exec(
        select(Delivery.status, func.count(), func.count(col(Delivery.last_error)))
        .where(Delivery.issue_id == issue_id)
        .group_by(col(Delivery.status))
    )
    for status, count, with_error in rows:
        counts[status] = count
        errors["failed" if status == DeliveryStatus.failed else "retried"] += with_error
    return counts, errors


@dataclass
class Readings:
    """The figures ``/metrics`` shows."""

    subscribers: dict[str, int]
    last_send: Issue | None = None
    deliveries: dict[str, int] = field(default_factory=dict)
    provider_errors: dict[str, int] = field(default_factory=dict)
    send_seconds: float = 0.0
    paused: bool = False
    last_success: dict[str, datetime | None] = field(default_factory=dict)
    job_runs: dict[str, JobRun] = field(default_factory=dict)
    heartbeat_at: datetime | None = None
    standbys: int = 0
    rates: IssueRates | None = None
    failing_sources: int = 0
    variants: list[VariantCounts] = field(default_factory=list)
    wave_now: WaveState | None = None  # local-time delivery: the last send's wave being sent
    wave_next: WaveState | None = None

    @property
    def send_rate(self) -> float:
        sent = self.deliveries.get(DeliveryStatus.sent, 0)
        return sent / self.send_seconds if self.send_seconds > 0 else 0.0


def metrics_now(engine: Engine, *, now: datetime, issues: int) -> tuple[Readings, list[IssueReport]]:
    """The figures of one ``/metrics`` scrape and the reports of the last ``issues`` issues, read in one
    unit of work."""
    with unit_of_work(engine) as session:
        return read_metrics(session, now=now), recent_reports(session, now=now, count=issues)


def read_metrics(session: Session, *, now: datetime) -> Readings:
    readings = Readings(subscribers=counts_by_state(session), job_runs=runs.job_runs(session))
    issue = readings.last_send = last_send(session)
    if issue is not None:
        readings.deliveries, readings.provider_errors = ledger_figures(session, issue.id or 0)
        readings.rates = issue_rates(session, issue)
        readings.variants = variant_counts(session, issue.id or 0)
        readings.wave_now, readings.wave_next = in_progress_and_next(fixed(session, issue), now=now)
        if issue.send_started_at is not None:
            readings.send_seconds = ((issue.sent_at or now) - issue.send_started_at).total_seconds()
    readings.paused = paused_issue(session) is not None
    ingest = readings.job_runs.get(runs.INGEST)
    readings.last_success = {
        "ingest": ingest.succeeded_at if ingest else None,
        "compose": session.exec(select(func.max(Issue.created_at))).one(),
        "send": session.exec(select(func.max(Issue.sent_at))).one(),
    }
    found = runs.schedulers(session, now)
    readings.heartbeat_at = found.leader.beat_at if found.leader else None
    readings.standbys = len(found.standbys)
    readings.failing_sources = sum(state.failing_since is not None for state in source_states(session))
    return readings
