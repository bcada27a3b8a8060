"""One full cycle of the scheduled job: ingest, compose when due, send what is approved and due.

Idempotent per period: the issue composed for a scheduled time carries that time as its ``period``
(unique), so a second run in the same period, a restart or a clock change composes nothing twice.
``digest run`` and the scheduler's ``compose-and-send`` job both run ``run_cycle``; the scheduler's
``send`` job runs only its second half, ``send_due``, when ``next_send_at`` says so.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import Engine
from sqlmodel import Session, col, func, or_, select

from digest.core.clock import utc_now
from digest.core.schedule import latest_fire, period_key
from digest.db.engine import unit_of_work
from digest.db.models import Delivery, DeliveryStatus, Issue, IssueStatus
from digest.ingest.summaries import SourceReport, ingest
from digest.issues.compose import ComposeRules, TooOld, compose, too_old_now
from digest.issues.decisions import decide
from digest.issues.queries import next_issue_to_send
from digest.ops import runs
from digest.rendering import Renderer
from digest.sending.progress import SendReport
from digest.sending.sender import IssueSender
from digest.sending.waves import LocalDelivery
from digest.sources import Source


def never() -> bool:
    return False


@dataclass(frozen=True)
class CyclePlan:
    trigger: CronTrigger
    review_window: timedelta
    rules: ComposeRules
    local: LocalDelivery | None = None  # DIGEST_DELIVERY=local: when sends start and their waves


@dataclass
class SendDue:
    approved: list[int] = field(default_factory=list)
    sent: list[SendReport] = field(default_factory=list)
    stopped: bool = False  # asked to stop with sending left to do (SIGTERM)

    @property
    def summary(self) -> str:
        """One line for logs and the job's record."""
        lines = [f"approved issue {number}" for number in self.approved]
        for report in self.sent:
            line = f"issue {report.issue_number}: {report.sent} sent, {report.failed} failed"
            line += f", {report.skipped} skipped of {report.audience}"
            if report.paused:
                line += f"; PAUSED: {report.paused}"
            lines.append(line)
        return "; ".join(lines) or "nothing to send"


@dataclass
class CycleReport(SendDue):
    ingested: list[SourceReport] = field(default_factory=list)
    period: str | None = None
    composed: int | None = None
    too_old: TooOld | None = None  # what this period's compose skipped for age

    @property
    def summary(self) -> str:
        if self.period is None:
            compose_line = "no scheduled time in the last week"
        elif self.composed:
            compose_line = f"composed issue {self.composed} for the period of {self.period}"
        else:
            compose_line = f"nothing to compose for the period of {self.period}"
        if self.too_old is not None and self.too_old.summaries:
            ids = ", ".join(row.source_id for row in self.too_old.summaries)
            compose_line += f"; skipped for age: {len(self.too_old.summaries)} ({ids})"
        return f"{compose_line}; {super().summary}"


def run_cycle(
    engine: Engine,
    sources: list[Source],
    renderer: Renderer,
    sender: IssueSender,
    plan: CyclePlan,
    *,
    now: datetime,
    should_stop: Callable[[], bool] = never,
) -> CycleReport:
    report = CycleReport(ingested=ingest_recorded(engine, sources, renderer, now=now))
    fire = latest_fire(plan.trigger, now)
    if fire is not None:
        report.period = period_key(fire)
        report.composed, report.too_old = compose_for_period(
            engine, renderer, plan.rules, period=report.period, now=now
        )
    due = send_due(engine, sender, review_window=plan.review_window, now=now, should_stop=should_stop)
    report.approved, report.sent, report.stopped = due.approved, due.sent, due.stopped
    return report


def ingest_recorded(
    engine: Engine, sources: list[Source], renderer: Renderer, *, now: datetime
) -> list[SourceReport]:
    """Ingest and record the run: ``ok`` only when every source could be read (rejected summaries aside)."""
    with runs.recorded(engine, runs.INGEST, clock=utc_now) as note:
        reports = ingest(engine, sources, renderer, now=now)
        failing = [report.line for report in reports if report.error]
        note.outcome = "failed" if failing else "ok"
        note.detail = "; ".join(failing or [report.line for report in reports])
    return reports


def compose_for_period(
    engine: Engine, renderer: Renderer, rules: ComposeRules, *, period: str, now: datetime
) -> tuple[int | None, TooOld | None]:
    """The number of the issue composed for ``period`` (None when there is nothing, or it was composed
    before), and what that compose skipped for age."""
    with unit_of_work(engine) as session:
        if session.exec(select(Issue).where(Issue.period == period)).first() is not None:
            return None, None
        too_old = too_old_now(session, rules, now=now)  # before compose: it asks "since the last"
        issue = compose(session, renderer, rules, now=now, period=period)
        return (issue.number if issue else None), too_old


def send_due(
    engine: Engine,
    sender: IssueSender,
    *,
    review_window: timedelta,
    now: datetime,
    should_stop: Callable[[], bool] = never,
) -> SendDue:
    """Approve what its review window lets go, then send every approved issue and finish interrupted sends."""
    due = SendDue(approved=approve_due(engine, review_window=review_window, now=now))
    local = sender.settings.local is not None
    while True:
        with unit_of_work(engine) as session:
            # With local delivery an issue starts before its own time, when the first zone reaches it.
            issue = next_issue_to_send(session, now=None if local else now)
            starts = (
                sender.starts_at(session, issue) if issue and issue.status == IssueStatus.approved else None
            )
        if issue is None or (starts is not None and starts > now):
            break
        if should_stop():
            due.stopped = True
            break
        result = sender.send(issue.number)
        due.sent.append(result)
        if result.in_flight or result.paused or result.waiting:
            # Stopped after the batch in hand; or another sender holds the rest; or ops must act; or the
            # next wave is still to come (the scheduler plans the send job for it).
            due.stopped = should_stop() and not result.paused
            break
    return due


def approve_due(engine: Engine, *, review_window: timedelta, now: datetime) -> list[int]:
    """Approve scheduled drafts whose review window is over; held and hand-made drafts wait for an editor."""
    with unit_of_work(engine) as session:
        drafts = session.exec(
            select(Issue).where(
                Issue.status == IssueStatus.draft,
                col(Issue.period).is_not(None),
                col(Issue.created_at) <= now - review_window,
            )
        ).all()
        return [
            decide(session, issue.number, IssueStatus.approved, by="schedule", now=now).number
            for issue in drafts
        ]


def next_send_at(
    session: Session, *, review_window: timedelta, now: datetime, local: LocalDelivery | None = None
) -> datetime | None:
    """When ``send_due`` next has work: at once for an approved issue (at its time, if an editor gave it one)
    or a send with deliveries waiting;
    when the leases run out for a send whose rest was claimed by a sender that may have died; when the
    review window ends for a scheduled draft; when the next wave starts, with local delivery (which also
    starts a send when its first zone reaches the issue's time). A paused send waits for ops
    (``digest send --resume``)."""
    open_issues = session.exec(
        select(Issue).where(
            col(Issue.status).in_([IssueStatus.approved, IssueStatus.sending, IssueStatus.draft]),
            col(Issue.paused_reason).is_(None),
        )
    ).all()
    times = []
    for issue in open_issues:
        if issue.status == IssueStatus.approved:
            times.append((local.starts_at(session, issue) if local else issue.send_at) or now)
        elif issue.status == IssueStatus.sending:
            times.append(resume_at(session, issue.id or 0, now=now))
        elif issue.period is not None:
            times.append(issue.created_at + review_window)
    return max(min(times), now) if times else None


def resume_at(session: Session, issue_id: int, *, now: datetime) -> datetime:
    pending = session.exec(
        select(Delivery.id)
        .where(
            Delivery.issue_id == issue_id,
            Delivery.status == DeliveryStatus.pending,
            or_(col(Delivery.not_before).is_(None), col(Delivery.not_before) <= now),
        )
        .limit(1)
    ).first()
    if pending is not None:
        return now
    next_wave: datetime | None = session.exec(
        select(func.min(Delivery.not_before)).where(
            Delivery.issue_id == issue_id, Delivery.status == DeliveryStatus.pending
        )
    ).one()
    lease_end: datetime | None = session.exec(
        select(func.min(Delivery.lease_until)).where(
            Delivery.issue_id == issue_id, Delivery.status == DeliveryStatus.sending
        )
    ).one()
    ends = [moment for moment in (lease_end, next_wave) if moment is not None]
    return min(ends) if ends else now
