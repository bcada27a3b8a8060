"""Readers' picks for a new issue: the most read summaries of the last issue sent before it, by the
report's own count of people's clicks (``report.py``, ``core/picks.py`` for the rule)."""

from datetime import datetime

from sqlmodel import Session, col, select

from digest.core.picks import Pick, readers_picks
from digest.db.models import PUBLISHED, Issue, Summary
from digest.engagement.report import issue_report


def picks_for(session: Session, number: int, *, now: datetime) -> list[Pick]:
    """The picks issue ``number`` carries: from the newest issue sent (or sending) before it; none when
    there is no such issue or no summary of it was read by enough people."""
    previous = session.exec(
        select(Issue.number)
        .where(col(Issue.number) < number, col(Issue.status).in_(PUBLISHED))
        .order_by(col(Issue.number).desc())
        .limit(1)
    ).first()
    if previous is None:
        return []
    report = issue_report(session, previous, now=now)
    ids = [row.summary_id for row in report.summaries]
    urls = dict(session.exec(select(Summary.id, Summary.url).where(col(Summary.id).in_(ids))).all())
    return readers_picks(
        Pick(row.summary_id, row.title, urls[row.summary_id], row.clicks.unique)
        for row in report.summaries
        if row.summary_id in urls
    )
