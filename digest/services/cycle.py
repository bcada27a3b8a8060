"""One full cycle of the scheduled job: ingest, compose when due, send what is approved and due.

Idempotent per period: the issue composed for a scheduled time carries that time as its ``period``
(unique), so a second run in the same period, a restart or a clock change composes nothing twice.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import Engine
from sqlmodel import col, select

from digest.core.schedule import latest_fire, period_key
from digest.db.engine import unit_of_work
from digest.db.models import Issue, IssueStatus
from digest.rendering import Renderer
from digest.services.compose import ComposeRules, compose
from digest.services.ingest import SourceReport, ingest
from digest.services.issues import decide
from digest.services.send import IssueSender, SendReport, next_issue_to_send
from digest.sources import Source


@dataclass(frozen=True)
class CyclePlan:
    trigger: CronTrigger
    review_window: timedelta
    rules: ComposeRules


@dataclass
class CycleReport:
    ingested: list[SourceReport] = field(default_factory=list)
    period: str | None = None
    composed: int | None = None
    approved: list[int] = field(default_factory=list)
    sent: list[SendReport] = field(default_factory=list)


def run_cycle(
    engine: Engine,
    sources: list[Source],
    renderer: Renderer,
    sender: IssueSender,
    plan: CyclePlan,
    *,
    now: datetime,
) -> CycleReport:
    report = CycleReport(ingested=ingest(engine, sources, renderer, now=now))
    fire = latest_fire(plan.trigger, now)
    if fire is not None:
        report.period = period_key(fire)
        report.composed = compose_for_period(engine, renderer, plan.rules, period=report.period, now=now)
    report.approved = approve_due(engine, review_window=plan.review_window, now=now)
    while True:
        with unit_of_work(engine) as session:
            issue = next_issue_to_send(session)
        if issue is None:
            break
        result = sender.send(issue.number)
        report.sent.append(result)
        if result.in_flight:
            break  # another worker holds the rest; it will finish the issue
    return report


def compose_for_period(
    engine: Engine, renderer: Renderer, rules: ComposeRules, *, period: str, now: datetime
) -> int | None:
    with unit_of_work(engine) as session:
        if session.exec(select(Issue).where(Issue.period == period)).first() is not None:
            return None
        issue = compose(session, renderer, rules, now=now, period=period)
        return issue.number if issue else None


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
