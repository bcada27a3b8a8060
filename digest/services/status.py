"""What ``digest status`` reports: subscribers by state, the last issues, the last send, the next runs."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from apscheduler.triggers.cron import CronTrigger
from sqlmodel import Session, col, select

from digest.core.schedule import next_fire
from digest.db.models import Issue, IssueStatus
from digest.services.ledger import delivery_counts
from digest.services.subscribers import counts_by_state


@dataclass
class Status:
    subscribers: dict[str, int]
    last_issue: Issue | None
    last_send: Issue | None
    last_send_counts: dict[str, int] = field(default_factory=dict)
    next_runs: list[datetime] = field(default_factory=list)


def status(session: Session, trigger: CronTrigger, *, now: datetime) -> Status:
    last_issue = session.exec(select(Issue).order_by(col(Issue.number).desc())).first()
    last_send = session.exec(
        select(Issue)
        .where(col(Issue.status).in_([IssueStatus.sending, IssueStatus.sent]))
        .order_by(col(Issue.number).desc())
    ).first()
    report = Status(subscribers=counts_by_state(session), last_issue=last_issue, last_send=last_send)
    if last_send is not None:
        report.last_send_counts = delivery_counts(session, last_send.id or 0)
    fire = next_fire(trigger, now)
    while fire is not None and len(report.next_runs) < 3:
        report.next_runs.append(fire)
        fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
    return report
