"""What ``digest status`` reports: subscribers by state, the last issue and send (with its bounce and
complaint rates), the summaries skipped for age, the scheduler, next runs, and each source's last read."""

from dataclasses import dataclass, field
from datetime import datetime

from apscheduler.triggers.cron import CronTrigger
from sqlmodel import Session, col, select

from digest.core.schedule import next_fires
from digest.core.topics import VariantPlan
from digest.db.models import PUBLISHED, DeliveryStatus, Issue, IssueStatus, JobRun, SourceState
from digest.ingest.source_states import source_states
from digest.issues.compose import ComposeRules, TooOld, too_old_for, too_old_now
from digest.issues.queries import paused_issue
from digest.ops import runs
from digest.ops.rates import IssueRates, issue_rates
from digest.sending.counts import VariantCounts, delivery_counts, variant_counts
from digest.sending.variants import plan_for
from digest.sending.waves import WaveState, fixed, in_progress_and_next
from digest.subscribers.records import counts_by_state

VARIANTS_SHOWN = 5


@dataclass
class Status:
    subscribers: dict[str, int]
    last_issue: Issue | None
    last_send: Issue | None
    schedulers: runs.Schedulers
    paused: Issue | None = None
    last_send_counts: dict[str, int] = field(default_factory=dict)
    next_runs: list[datetime] = field(default_factory=list)
    job_runs: dict[str, JobRun] = field(default_factory=dict)
    rates: IssueRates | None = None
    sources: list[SourceState] = field(default_factory=list)
    last_send_variants: list[VariantCounts] = field(default_factory=list)
    # The next issue to go (draft, held or approved) and the variants a send started now would make.
    coming: Issue | None = None
    coming_variants: list[VariantPlan] = field(default_factory=list)
    # What the last issue's compose skipped for age, and what the next compose would skip.
    too_old_last: TooOld | None = None
    too_old_next: TooOld | None = None
    # With local-time delivery: the wave of the last send being sent now, and its next one.
    wave_now: WaveState | None = None
    wave_next: WaveState | None = None


def status(
    session: Session,
    trigger: CronTrigger,
    *,
    now: datetime,
    rules: ComposeRules,
    sources: list[str] | None = None,
) -> Status:
    """``sources``: the configured sources' names, whose last reads are shown (all recorded when None)."""
    last_issue = session.exec(select(Issue).order_by(col(Issue.number).desc())).first()
    last_send = session.exec(
        select(Issue).where(col(Issue.status).in_(PUBLISHED)).order_by(col(Issue.number).desc())
    ).first()
    report = Status(
        subscribers=counts_by_state(session),
        last_issue=last_issue,
        last_send=last_send,
        schedulers=runs.schedulers(session, now),
        paused=paused_issue(session),
        next_runs=next_fires(trigger, now, 3),
        job_runs=runs.job_runs(session),
    )
    if last_send is not None:
        report.last_send_counts = delivery_counts(session, last_send.id or 0)
        report.rates = issue_rates(session, last_send)
        report.last_send_variants = variant_counts(session, last_send.id or 0)
        report.wave_now, report.wave_next = in_progress_and_next(fixed(session, last_send), now=now)
    report.coming = session.exec(
        select(Issue)
        .where(col(Issue.status).in_([IssueStatus.draft, IssueStatus.held, IssueStatus.approved]))
        .order_by(col(Issue.number))
    ).first()
    if report.coming is not None:
        report.coming_variants = plan_for(session, report.coming)
    report.sources = source_states(session, sources)
    if last_issue is not None:
        report.too_old_last = too_old_for(session, last_issue)
    report.too_old_next = too_old_now(session, rules, now=now)
    return report


def describe_variants(report: Status) -> list[str]:
    """The last send by variant, and what the coming issue would make: the subscribers whose topics
    select none of an issue's summaries get no email that week, and ops should see how many."""
    lines = []
    shown = [v for v in report.last_send_variants if v.position is not None]
    if len(shown) > 1 and report.last_send is not None:
        parts = [
            f"#{v.position} ({v.summaries} summaries) " + ", ".join(f"{s} {n}" for s, n in v.counts.items())
            for v in shown[:VARIANTS_SHOWN]
        ]
        more = f"; and {len(shown) - VARIANTS_SHOWN} more" if len(shown) > VARIANTS_SHOWN else ""
        lines.append(f"last send by variant: {'; '.join(parts)}{more}")
    unmatched = sum(v.counts.get(DeliveryStatus.unmatched, 0) for v in report.last_send_variants)
    if unmatched and report.last_send is not None:
        lines.append(
            f"last send: {unmatched} subscribers got no email (none of issue "
            f"{report.last_send.number}'s summaries is on their topics)"
        )
    if report.coming is not None and report.coming_variants:
        plans = report.coming_variants
        empty = sum(p.subscribers for p in plans if p.empty)
        made = sum(not p.empty for p in plans)
        line = f"issue {report.coming.number} ({report.coming.status}) would go out in {made} variant(s)"
        if empty:
            line += f"; {empty} subscribers would get no email (none of its summaries is on their topics)"
        lines.append(line)
    return lines


def describe(report: Status, *, now: datetime, schedule: str, timezone: str) -> list[str]:
    """The report as lines for the terminal."""
    lines = ["subscribers: " + ", ".join(f"{state} {count}" for state, count in report.subscribers.items())]
    if report.last_issue is None:
        lines.append("last issue: none yet")
    else:
        issue = report.last_issue
        lines.append(f"last issue: {issue.number} ({issue.status}) {issue.subject}")
    if report.last_send is not None:
        counts = ", ".join(f"{state} {count}" for state, count in report.last_send_counts.items())
        lines.append(f"last send: issue {report.last_send.number} ({report.last_send.status}): {counts}")
    lines.extend(describe_variants(report))
    lines.extend(describe_waves(report))
    lines.extend(describe_too_old(report))
    if report.rates is not None:
        lines.append(f"bounces and complaints: {report.rates.line}")
    if report.paused is not None:
        since = f" since {report.paused.paused_at:%Y-%m-%d %H:%M %Z}" if report.paused.paused_at else ""
        lines.append(
            f"PAUSED: the send of issue {report.paused.number}{since}: {report.paused.paused_reason}; "
            "fix the cause, then run `digest send --resume`"
        )
    lines.extend(describe_schedulers(report.schedulers, now=now))
    for name, run in sorted(report.job_runs.items()):
        lines.append(f"last {name}: {run.outcome} at {run.started_at:%Y-%m-%d %H:%M:%S %Z}: {run.detail}")
    lines.extend(describe_source(state) for state in report.sources)
    runs_text = ", ".join(f"{fire:%a %Y-%m-%d %H:%M %Z}" for fire in report.next_runs)
    lines.append(f"next scheduled compose+send ({schedule}, {timezone}): {runs_text or 'none'}")
    return lines


def describe_waves(report: Status) -> list[str]:
    """The wave in progress and the next one, when the last send goes out in waves."""
    lines = []
    for label, wave in (("wave in progress", report.wave_now), ("next wave", report.wave_next)):
        if wave is not None:
            zones = ", ".join(wave.zones[:4]) + (
                f" and {len(wave.zones) - 4} more" if len(wave.zones) > 4 else ""
            )
            when = f"{wave.starts_at:%Y-%m-%d %H:%M} UTC"
            lines.append(f"{label}: {when} ({zones}): {wave.readers} readers, {wave.state}")
    return lines


def describe_too_old(report: Status) -> list[str]:
    """Summaries that no issue will hold because they came too old: ops should hear of a late source."""
    lines = []
    if report.too_old_last is not None and report.last_issue is not None:
        lines += report.too_old_last.lines(heading=f"issue {report.last_issue.number} skipped for age")
    if report.too_old_next is not None:
        lines += report.too_old_next.lines(heading="the next compose skips for age")
    return lines


def describe_schedulers(found: runs.Schedulers, *, now: datetime) -> list[str]:
    standbys = ", ".join(beat.holder for beat in found.standbys)
    standby_text = f"; standby: {standbys}" if standbys else "; no standby"
    leader = found.leader
    if leader is None:
        return [f"scheduler: none leads (start `digest scheduler`){standby_text}"]
    age = f"{leader.age(now).total_seconds():.0f}s ago"
    if not leader.fresh(now):
        return [
            f"scheduler: STALE: the leader {leader.holder} last beat {age} (every "
            f"{leader.every.total_seconds():.0f}s): is `digest scheduler` running?{standby_text}"
        ]
    lines = [f"scheduler: leader {leader.holder}, heartbeat {age}{standby_text}"]
    if leader.next_runs:
        planned = ", ".join(
            f"{job} {datetime.fromisoformat(at):%a %Y-%m-%d %H:%M:%S %Z}"
            for job, at in sorted(leader.next_runs.items())
        )
        lines.append(f"scheduler's next runs: {planned}")
    return lines


def describe_source(state: SourceState) -> str:
    """One line per source: its last read's report, and since when it fails if it does."""
    checked = f"{state.checked_at:%Y-%m-%d %H:%M %Z}"
    if state.failing_since is None:
        return f"source {state.report} (read {checked})"
    return (
        f"source FAILING since {state.failing_since:%Y-%m-%d %H:%M %Z} ({state.failures} reads in a row): "
        f"{state.report} (last tried {checked})"
    )
