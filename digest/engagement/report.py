"""What one issue did: delivered, clicks per summary and topic, click-through, who left, how it moved.

People's clicks only: scanners' bursts (``core/engagement.machine_clicks``) are counted apart. Under
``aggregate`` tracking a "unique" click is a distinct visitor (one client on one day), an estimate; under
``individual`` it is a distinct subscriber. An unsubscribe counts for the issue its link named (an
``engagement`` row, ``subscribers/leaving.py``); one without a record (a link from an email sent before
links named their issue, the preferences page, the provider's own unsubscribe) counts by the older rule,
for the last issue its subscriber was sent before leaving. Bounces and complaints are the provider's (or
the SMTP server's) outcomes of this issue's own deliveries: a delivery's status, and complaints whose
event names a delivery of this issue.
"""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Engine, and_, exists
from sqlalchemy import select as sa_select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, func, select

from digest.core.engagement import UNSUBSCRIBE, Click, LinkKind, machine_clicks, rate
from digest.db.engine import unit_of_work
from digest.db.models import (
    Delivery,
    DeliveryStatus,
    Engagement,
    Issue,
    IssueItem,
    ProviderEvent,
    Subscriber,
    Summary,
)
from digest.engagement.opens import Opens, issue_opens
from digest.errors import NotFound

# Provider outcomes of a delivery that mean it never reached the inbox.
NOT_DELIVERED = ("bounced", "blocked", "dropped")
# The moments after the send the report shows clicks up to.
MOMENTS = (
    timedelta(hours=1),
    timedelta(hours=3),
    timedelta(hours=6),
    timedelta(hours=12),
    timedelta(days=1),
    timedelta(days=2),
    timedelta(days=3),
    timedelta(days=7),
)


@dataclass(frozen=True)
class Count:
    """Clicks on something: distinct people (or visitors) and every click."""

    unique: int = 0
    total: int = 0


@dataclass(frozen=True)
class SummaryClicks:
    summary_id: int
    title: str
    topics: tuple[str, ...]
    clicks: Count
    doi_clicks: int  # of ``clicks.total``, those on the study's DOI


@dataclass(frozen=True)
class Moment:
    """People's clicks, and unsubscribes, from the send up to ``after`` it (cumulative)."""

    after: timedelta
    clicks: int
    unique: int
    unsubscribed: int = 0

    @property
    def label(self) -> str:
        hours = int(self.after.total_seconds() // 3600)
        return f"{hours} h" if hours < 24 else f"{hours // 24} d"


@dataclass(frozen=True)
class IssueReport:
    number: int
    subject: str
    sent_at: datetime | None
    delivered: int
    bounced: int
    complained: int
    unsubscribed: int
    clicks: Count  # people's clicks on the whole issue (unique: distinct people)
    machine_clicks: int
    note_clicks: int
    summaries: tuple[SummaryClicks, ...]
    topics: tuple[tuple[str, Count], ...]  # most unique clicks first
    movement: tuple[Moment, ...]
    opens: Opens = field(default_factory=Opens)  # an estimate, machine opens apart (``engagement/opens.py``)
    named_clicks: int = 0  # people's clicks that name their subscriber (``individual`` tracking)

    @property
    def readers_counted(self) -> str:
        """How distinct readers were counted: exactly when every click names its subscriber."""
        if self.clicks.total and self.named_clicks == self.clicks.total:
            return "Readers are distinct subscribers, counted exactly (individual tracking)."
        if self.named_clicks:
            return (
                "Readers are distinct subscribers where a click names one (individual tracking), and "
                "distinct visitors, an estimate, where it does not."
            )
        return "Readers are distinct visitors (one client on one day), an estimate."

    @property
    def open_rate(self) -> float:
        """Distinct visitors who opened per delivered email: an estimate (proxies hide or fake opens)."""
        return rate(self.opens.unique, self.delivered)

    @property
    def click_rate(self) -> float:
        """Click-through: people who clicked at least once per delivered email."""
        return rate(self.clicks.unique, self.delivered)

    @property
    def unsubscribe_rate(self) -> float:
        return rate(self.unsubscribed, self.delivered)


def issue_report(session: Session, number: int, *, now: datetime) -> IssueReport:
    issue = session.exec(select(Issue).where(Issue.number == number)).first()
    if issue is None:
        raise NotFound(f"there is no issue {number}")
    delivered, bounced = deliveries(session, issue.id or 0)
    clicks, scanners = sorted_clicks(session, number)
    machine = count_clicks(session, number) - len(clicks)
    titled = summaries_of(session, issue.id or 0)
    left = leaving_times(session, issue)
    grouped = by_summary(clicks)
    per_summary = tuple(
        SummaryClicks(sid, title, topics, counted(grouped.get(sid, [])), doi_of(grouped.get(sid, []), sid))
        for sid, title, topics in titled
    )
    return IssueReport(
        number=number,
        subject=issue.subject,
        sent_at=issue.send_started_at,
        delivered=delivered,
        bounced=bounced,
        complained=complaints(session, number),
        unsubscribed=len(left),
        clicks=counted(clicks),
        machine_clicks=machine,
        note_clicks=sum(c.kind == LinkKind.note for c in clicks),
        summaries=per_summary,
        topics=by_topic(clicks, {sid: topics for sid, _, topics in titled}),
        movement=movement(clicks, issue.send_started_at, now, left),
        opens=issue_opens(session, issue, scanners),
        named_clicks=sum(click.who.startswith("s") for click in clicks),
    )


# visitor, subscriber (individual tracking), summary, kind of link, when: one stored click, as read.
ClickRow = tuple[str, int | None, int | None, str, datetime]


@dataclass(frozen=True)
class PersonClick:
    """A click made by a person, as the report counts it."""

    summary_id: int | None
    kind: str
    who: str  # the subscriber (individual tracking) or the visitor hash
    at: datetime


def people_clicks(session: Session, number: int) -> list[PersonClick]:
    """Issue ``number``'s clicks without the scanners' bursts."""
    return sorted_clicks(session, number)[0]


def sorted_clicks(session: Session, number: int) -> tuple[list[PersonClick], set[str]]:
    """Issue ``number``'s clicks without the scanners' bursts, and the visitors who made those bursts.

    Read as plain rows of the five columns the rule needs, not as table objects: at 200,000 clicks
    building the objects was two thirds of the report's time and most of its memory."""
    columns = (
        Engagement.visitor,
        Engagement.subscriber_id,
        Engagement.summary_id,
        Engagement.kind,
        Engagement.at,
    )
    query = (
        sa_select(*map(col, columns))
        .where(col(Engagement.issue_number) == number, col(Engagement.action) == "click")
        .order_by(col(Engagement.id))
    )
    rows = cast(list[ClickRow], session.connection().execute(query).all())
    machine = machine_clicks([Click(visitor, at, (summary, kind)) for visitor, _, summary, kind, at in rows])
    people = [
        PersonClick(summary, kind, who_clicked(visitor, subscriber), at)
        for index, (visitor, subscriber, summary, kind, at) in enumerate(rows)
        if index not in machine
    ]
    return people, {rows[index][0] for index in machine}


def who_clicked(visitor: str, subscriber: int | None) -> str:
    return f"s{subscriber}" if subscriber is not None else f"v{visitor}"


def by_summary(clicks: Sequence[PersonClick]) -> dict[int | None, list[PersonClick]]:
    """People's clicks grouped by the summary they led to, in one pass."""
    grouped: dict[int | None, list[PersonClick]] = {}
    for click in clicks:
        grouped.setdefault(click.summary_id, []).append(click)
    return grouped


def count_clicks(session: Session, number: int) -> int:
    query = select(func.count()).where(Engagement.issue_number == number, Engagement.action == "click")
    return int(session.exec(query).one())


def counted(clicks: Sequence[PersonClick]) -> Count:
    return Count(unique=len({click.who for click in clicks}), total=len(clicks))


def doi_of(clicks: Sequence[PersonClick], summary_id: int) -> int:
    return sum(click.summary_id == summary_id and click.kind == LinkKind.doi for click in clicks)


def by_topic(
    clicks: Sequence[PersonClick], topics: dict[int, tuple[str, ...]]
) -> tuple[tuple[str, Count], ...]:
    """Clicks on each topic's summaries; a person clicking two summaries of one topic counts once."""
    grouped: dict[str, list[PersonClick]] = {topic: [] for held in topics.values() for topic in held}
    for click in clicks:
        for topic in topics.get(click.summary_id or 0, ()):
            grouped[topic].append(click)
    counts = [(topic, counted(found)) for topic, found in grouped.items()]
    return tuple(sorted(counts, key=lambda pair: (-pair[1].unique, -pair[1].total, pair[0])))


def movement(
    clicks: Sequence[PersonClick], sent_at: datetime | None, now: datetime, left: Sequence[datetime] = ()
) -> tuple[Moment, ...]:
    """People's clicks and the unsubscribes (``left``: when each was) up to each of ``MOMENTS`` after
    the send, for the moments already reached."""
    if sent_at is None:
        return ()
    moments: list[Moment] = []
    for after in MOMENTS:
        if sent_at + after > now and moments:
            break
        until = [click for click in clicks if click.at <= sent_at + after]
        gone = sum(at <= sent_at + after for at in left)
        moments.append(Moment(after, len(until), len({click.who for click in until}), gone))
    return tuple(moments)


def deliveries(session: Session, issue_id: int) -> tuple[int, int]:
    """Emails of the issue that were delivered (sent, and not bounced or dropped since), and bounced."""
    query = select(Delivery.provider_status, func.count()).where(
        Delivery.issue_id == issue_id, Delivery.status == DeliveryStatus.sent
    )
    counts = Counter(
        {status: number for status, number in session.exec(query.group_by(col(Delivery.provider_status)))}
    )
    bounced = sum(counts[status] for status in NOT_DELIVERED)
    return sum(counts.values()) - bounced, bounced


def complaints(session: Session, number: int) -> int:
    query = select(func.count(func.distinct(ProviderEvent.email_hash))).where(
        ProviderEvent.issue_number == number, ProviderEvent.event == "spamreport"
    )
    return int(session.exec(query).one())


def leaving_times(session: Session, issue: Issue) -> list[datetime]:
    """When each unsubscribe counted for ``issue`` happened: those recorded with it, then the guesses."""
    recorded = select(Engagement.at).where(
        Engagement.issue_number == issue.number, Engagement.action == UNSUBSCRIBE
    )
    return [*session.exec(recorded), *guessed_leaving(session, issue.id or 0)]


def guessed_leaving(session: Session, issue_id: int) -> list[datetime]:
    """The older rule, for leavers whose unsubscribe named no issue: subscribers sent this issue who left
    before any later issue was sent to them. When each left."""
    later = aliased(Delivery)
    sent_later = exists().where(
        col(later.subscriber_id) == col(Delivery.subscriber_id),
        col(later.status) == DeliveryStatus.sent,
        col(later.sent_at) > col(Delivery.sent_at),
        col(later.sent_at) <= col(Subscriber.unsubscribed_at),
    )
    query = (
        select(Subscriber.unsubscribed_at)
        .select_from(Delivery)
        .join(Subscriber, and_(col(Subscriber.id) == col(Delivery.subscriber_id)))
        .where(
            Delivery.issue_id == issue_id,
            Delivery.status == DeliveryStatus.sent,
            col(Subscriber.unsubscribed_at) >= col(Delivery.sent_at),
            col(Subscriber.unsubscribe_recorded).is_(False),
            ~sent_later,
        )
    )
    return [at for at in session.exec(query) if at is not None]


def summaries_of(session: Session, issue_id: int) -> list[tuple[int, str, tuple[str, ...]]]:
    """The issue's summaries in order: id, title as shown, topics."""
    query = (
        select(Summary)
        .join(IssueItem, col(IssueItem.summary_id) == col(Summary.id))
        .where(IssueItem.issue_id == issue_id)
        .order_by(col(IssueItem.position))
    )
    return [(row.id or 0, row.display_title, tuple(row.topics)) for row in session.exec(query)]


def as_json(report: IssueReport) -> dict[str, object]:
    """The report as plain JSON values (``digest report --json``)."""
    return {
        "issue": report.number,
        "subject": report.subject,
        "sent_at": report.sent_at.isoformat() if report.sent_at else None,
        "delivered": report.delivered,
        "bounced": report.bounced,
        "complained": report.complained,
        "unsubscribed": report.unsubscribed,
        "unsubscribe_rate": round(report.unsubscribe_rate, 4),
        "clicks": {"unique": report.clicks.unique, "total": report.clicks.total},
        "readers_counted": report.readers_counted,
        "click_rate": round(report.click_rate, 4),
        "machine_clicks": report.machine_clicks,
        "note_clicks": report.note_clicks,
        "opens_estimate": {
            "unique": report.opens.unique,
            "total": report.opens.total,
            "rate": round(report.open_rate, 4),
            "machine": report.opens.machine,
            "machine_by_rule": dict(report.opens.by_reason),
        },
        "summaries": [
            {
                "summary": row.summary_id,
                "title": row.title,
                "topics": list(row.topics),
                "unique": row.clicks.unique,
                "total": row.clicks.total,
                "doi": row.doi_clicks,
            }
            for row in report.summaries
        ],
        "topics": [
            {"topic": topic, "unique": count.unique, "total": count.total} for topic, count in report.topics
        ],
        "movement": [
            {
                "hours": int(m.after.total_seconds() // 3600),
                "clicks": m.clicks,
                "unique": m.unique,
                "unsubscribed": m.unsubscribed,
            }
            for m in report.movement
        ],
    }


def recent_reports(session: Session, *, now: datetime, count: int = 8) -> list[IssueReport]:
    """The reports of the last ``count`` issues whose send started, oldest first (as charts read)."""
    query = select(Issue.number).where(col(Issue.send_started_at).is_not(None))
    numbers = list(session.exec(query.order_by(col(Issue.number).desc()).limit(count)))
    return [issue_report(session, number, now=now) for number in reversed(numbers)]


def report_of(engine: Engine, number: int, *, now: datetime) -> IssueReport:
    """``issue_report`` as a use case, in its own unit of work; ``NotFound`` for no such issue."""
    if not 0 < number < 2**31:
        raise NotFound(f"there is no issue {number}")
    with unit_of_work(engine) as session:
        return issue_report(session, number, now=now)


def recent(engine: Engine, *, now: datetime) -> list[IssueReport]:
    """``recent_reports`` as a use case, in its own unit of work."""
    with unit_of_work(engine) as session:
        return recent_reports(session, now=now)
