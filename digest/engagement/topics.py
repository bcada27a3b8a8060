"""Which topics readers go on to read: topics ranked by unique clicks per delivered email, over the last
issues sent.

For each of the last ``issues`` issues, a topic earns the distinct people (or visitors) who clicked any of
its summaries in that issue, and the issue's delivered emails; the rate is the sum of the first over the
sum of the second, over the issues that carried the topic. So a topic in every issue and one in a single
issue compare fairly.
"""

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from digest.core.engagement import rate
from digest.db.engine import unit_of_work
from digest.db.models import PUBLISHED, Issue
from digest.engagement.report import by_topic, deliveries, people_clicks, summaries_of


@dataclass(frozen=True)
class TopicRank:
    topic: str
    unique_clicks: int
    delivered: int  # emails of the issues that carried the topic
    issues: int

    @property
    def per_delivered(self) -> float:
        return rate(self.unique_clicks, self.delivered)


def recent_issues(session: Session, count: int) -> list[Issue]:
    """The last ``count`` issues whose send started, newest first."""
    query = select(Issue).where(col(Issue.status).in_(PUBLISHED)).order_by(col(Issue.number).desc())
    return list(session.exec(query.limit(count)))


def ranking(session: Session, *, issues: int) -> list[TopicRank]:
    """Topics by unique clicks per delivered email over the last ``issues`` issues, best first."""
    clicks: dict[str, int] = {}
    delivered: dict[str, int] = {}
    carried: dict[str, int] = {}
    for issue in recent_issues(session, issues):
        emails, _ = deliveries(session, issue.id or 0)
        topics = {sid: held for sid, _, held in summaries_of(session, issue.id or 0)}
        counts = dict(by_topic(people_clicks(session, issue.number), topics))
        for topic, count in counts.items():
            clicks[topic] = clicks.get(topic, 0) + count.unique
            delivered[topic] = delivered.get(topic, 0) + emails
            carried[topic] = carried.get(topic, 0) + 1
    ranks = [TopicRank(topic, clicks[topic], delivered[topic], carried[topic]) for topic in clicks]
    return sorted(ranks, key=lambda rank: (-rank.per_delivered, -rank.unique_clicks, rank.topic))


def ranking_of(engine: Engine, *, issues: int) -> list[TopicRank]:
    """``ranking`` as a use case, in its own unit of work."""
    with unit_of_work(engine) as session:
        return ranking(session, issues=issues)
