"""Local-time delivery (``DIGEST_DELIVERY=local``): an issue goes out in waves, each reader's at the issue's
wall-clock time on the issue's day on their own clocks.

A wave is not a thing of its own in the ledger: it is the deliveries that carry one ``not_before`` instant,
which no claim takes before it comes (``sending/ledger.py``). So the ledger stays the one truth: a crash,
a restart, several workers or a scheduler handover claim each delivery once, whatever the wave. The
waves are written with the audience when the send starts, when the first zone in use reaches the time;
``issuewave`` keeps, per zone, its wall-clock time, its instant and its readers then, for ``digest waves``
and the editor. A reader who changes zone afterwards keeps the wave they were given.

Late waves follow the scheduler's misfire rule (``DIGEST_MISFIRE_GRACE``): a wave whose time passed while
no sender ran goes out at once if it is at most that late, and says so (its note, a warning in the log);
one later than that is moved to the same wall-clock time on the next day, and says so.
"""

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, literal, update
from sqlmodel import Session, col, or_, select

from digest.core.durations import format_duration
from digest.core.schedule import cron_trigger, next_fire
from digest.core.zones import Wave, all_zones, local_instant, wall_clock, waves
from digest.db.engine import unit_of_work
from digest.db.models import (
    Delivery,
    DeliveryStatus,
    Issue,
    IssueStatus,
    IssueWave,
    Subscriber,
    SubscriberState,
)
from digest.issues.compose import EDITABLE
from digest.issues.queries import get_issue

log = logging.getLogger("digest.sending")


@dataclass(frozen=True)
class LocalDelivery:
    """What local-time delivery needs to know: the publisher's zone, the schedule and the misfire rule."""

    publisher_zone: str  # DIGEST_TIMEZONE: readers without a zone, and the clocks editors' times are read on
    schedule: str = (
        "0 7 * * mon"  # DIGEST_SCHEDULE: the time of an issue that has neither its own nor a period
    )
    misfire_grace: timedelta = timedelta(hours=6)

    def target(self, issue: Issue) -> tuple[date, time]:
        """The day and wall-clock time each reader gets ``issue`` at: its own time, else the scheduled time
        it was composed for, else the schedule's next time after it was approved."""
        zone = ZoneInfo(self.publisher_zone)
        moment = issue.send_at or period_instant(issue.period)
        if moment is None:
            after = issue.approved_at or issue.created_at
            moment = next_fire(cron_trigger(self.schedule, self.publisher_zone), after) or after
        local = moment.astimezone(zone)
        return local.date(), local.time().replace(second=0, microsecond=0)

    def zone_sql(self) -> object:
        """A reader's zone in SQL: their own, else the publisher's."""
        return func.coalesce(col(Subscriber.timezone), literal(self.publisher_zone))

    def readers_by_zone(self, session: Session) -> dict[str, int]:
        """Active readers per zone (an unknown stored name counts as the publisher's)."""
        zone = self.zone_sql()
        rows = session.exec(
            select(zone, func.count()).where(col(Subscriber.state) == SubscriberState.active).group_by(zone)  # type: ignore[call-overload]
        )
        counts: dict[str, int] = defaultdict(int)
        for name, count in rows:
            counts[name if name in all_zones() else self.publisher_zone] += count
        return dict(counts)

    def planned(self, session: Session, issue: Issue) -> list[Wave]:
        """The waves a send of ``issue`` started now would have."""
        day, at = self.target(issue)
        return waves(day, at, self.readers_by_zone(session))

    def starts_at(self, session: Session, issue: Issue) -> datetime:
        """When the send of ``issue`` starts: when the first zone in use reaches its time."""
        day, at = self.target(issue)
        zones = self.readers_by_zone(session) or {self.publisher_zone: 0}
        return min(local_instant(day, at, ZoneInfo(name)) for name in zones)


def period_instant(period: str | None) -> datetime | None:
    """The instant a scheduled period names (``2026-11-23T07:00Z``)."""
    if period is None:
        return None
    return datetime.strptime(period, "%Y-%m-%dT%H:%MZ").replace(tzinfo=ZoneInfo("UTC"))


def fix(session: Session, issue: Issue, local: LocalDelivery, *, now: datetime) -> dict[str, datetime]:
    """Write the waves of ``issue`` as its send starts; each zone's start instant (late ones moved by the
    misfire rule), for the ledger to stamp each delivery with its reader's."""
    day, at = local.target(issue)
    starts: dict[str, datetime] = {}
    for wave in waves(day, at, local.readers_by_zone(session)):
        for zone, readers in wave.zones:
            start, note = on_time(wave.starts_at, day, at, zone, local, now=now)
            starts[zone] = start
            session.add(
                IssueWave(
                    issue_id=issue.id or 0,
                    zone=zone,
                    local_at=wall_clock(start, zone),
                    starts_at=start,
                    readers=readers,
                    note=note,
                )
            )
    return starts


def on_time(
    start: datetime, day: date, at: time, zone: str, local: LocalDelivery, *, now: datetime
) -> tuple[datetime, str]:
    """A wave's start by the misfire rule, and what to say about it (nothing when it is not late)."""
    late = now - start
    if late <= ON_TIME:
        return start, ""
    if late <= local.misfire_grace:
        return start, f"late by {format_duration(late)}: sent at once"
    moved = local_instant(day + timedelta(days=1), at, ZoneInfo(zone))
    return moved, f"{format_duration(late)} late, more than DIGEST_MISFIRE_GRACE: moved to the next day"


def catch_up(engine: Engine, issue_id: int, local: LocalDelivery, *, now: datetime) -> None:
    """Apply the misfire rule to waves whose time passed while no sender ran (a send under way)."""
    with unit_of_work(engine) as session:
        late = untouched_late(session, issue_id, now=now)
        if not late:
            return
        rows = session.exec(
            select(IssueWave).where(IssueWave.issue_id == issue_id, col(IssueWave.starts_at).in_(late))
        ).all()
        for start, group in grouped(rows).items():
            if group[0].note:
                continue
            local_at = datetime.fromisoformat(group[0].local_at)
            moved, note = on_time(start, local_at.date(), local_at.time(), group[0].zone, local, now=now)
            for row in group:
                row.note, row.starts_at = note, moved
                row.local_at = wall_clock(moved, row.zone)
                session.add(row)
            if moved != start:
                session.execute(
                    update(Delivery)
                    .where(
                        col(Delivery.issue_id) == issue_id,
                        col(Delivery.not_before) == start,
                        col(Delivery.status) == DeliveryStatus.pending,
                    )
                    .values(not_before=moved)
                )
            if note:
                zones = ", ".join(row.zone for row in group)
                log.warning("the wave of %s (%s): %s", start.isoformat(), zones, note)


ON_TIME = timedelta(minutes=1)  # a wave started this soon after its time is not late


def untouched_late(session: Session, issue_id: int, *, now: datetime) -> list[datetime]:
    """The starts of waves past their time that no sender has begun (a wave being sent is not late, however
    long it takes): a pass or two over the issue's ledger per send, however many waves there are."""
    starts = session.exec(
        select(Delivery.not_before)
        .where(
            Delivery.issue_id == issue_id,
            Delivery.status == DeliveryStatus.pending,
            Delivery.attempts == 0,
            col(Delivery.not_before) < now - ON_TIME,
        )
        .distinct()
    )
    late = {start for start in starts if start is not None}
    if not late:
        return []
    begun = session.exec(
        select(Delivery.not_before)
        .where(
            Delivery.issue_id == issue_id,
            col(Delivery.not_before).in_(late),
            or_(col(Delivery.status) != DeliveryStatus.pending, col(Delivery.attempts) > 0),
        )
        .distinct()
    )
    return sorted(late - set(begun))


def grouped(rows: Sequence[IssueWave]) -> dict[datetime, list[IssueWave]]:
    """Zone rows by the instant their wave starts."""
    by_start: dict[datetime, list[IssueWave]] = defaultdict(list)
    for row in rows:
        by_start[row.starts_at].append(row)
    return dict(sorted(by_start.items()))


@dataclass(frozen=True)
class WaveState:
    """One wave of an issue as ``digest waves``, the editor, status and metrics show it."""

    starts_at: datetime
    zones: tuple[str, ...]
    local_times: tuple[str, ...]  # each zone's wall-clock time, in the zones' order
    readers: int
    counts: dict[str, int]  # its deliveries by status (empty before the send starts)
    note: str = ""

    @property
    def state(self) -> str:
        """``planned`` (not started), ``waiting`` (its time to come), ``sending``, or ``sent``."""
        if not self.counts:
            return "planned"
        if self.counts.get("pending", 0) + self.counts.get("sending", 0) == 0:
            return "sent"
        if self.counts.get("pending", 0) == self.readers and not self.counts.get("sent"):
            return "waiting"
        return "sending"


def fixed(session: Session, issue: Issue) -> list[WaveState]:
    """The waves written when the send of ``issue`` started, each with its deliveries by status."""
    rows = session.exec(select(IssueWave).where(IssueWave.issue_id == issue.id)).all()
    counts: dict[datetime, dict[str, int]] = defaultdict(dict)
    for start, status, number in session.exec(
        select(Delivery.not_before, Delivery.status, func.count())
        .where(Delivery.issue_id == issue.id, col(Delivery.not_before).is_not(None))
        .group_by(col(Delivery.not_before), col(Delivery.status))
    ):
        if start is not None and status != DeliveryStatus.unmatched:
            counts[start][status] = number
    result = []
    for start, group in grouped(rows).items():
        group.sort(key=lambda row: row.zone)
        result.append(
            WaveState(
                start,
                tuple(row.zone for row in group),
                tuple(row.local_at for row in group),
                sum(counts[start].values()),
                counts[start] or {"pending": 0},
                group[0].note,
            )
        )
    return result


def planned_states(session: Session, issue: Issue, local: LocalDelivery) -> list[WaveState]:
    """The waves a send of ``issue`` started now would have, with today's readers."""
    return [
        WaveState(
            wave.starts_at,
            tuple(zone for zone, _ in wave.zones),
            tuple(wall_clock(wave.starts_at, zone) for zone, _ in wave.zones),
            wave.readers,
            {},
        )
        for wave in local.planned(session, issue)
    ]


def in_progress_and_next(
    states: Sequence[WaveState], *, now: datetime
) -> tuple[WaveState | None, WaveState | None]:
    """The wave being sent (its time came, deliveries open) and the next one to start."""
    current = next((w for w in states if w.starts_at <= now and w.state in ("sending", "waiting")), None)
    coming = next((w for w in states if w.starts_at > now), None)
    return current, coming


def rows_of(engine: Engine, number: int, local: LocalDelivery | None) -> list[WaveState]:
    """The waves the editor's page shows for issue ``number``: those written when its send started, or
    (local delivery, before the send) those a send started now would have."""
    with unit_of_work(engine) as session:
        issue = get_issue(session, number)
        rows = fixed(session, issue)
        if not rows and local is not None and issue.status in (*EDITABLE, IssueStatus.approved):
            rows = planned_states(session, issue, local)
        return rows
