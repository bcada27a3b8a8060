"""An issue's own send time: set, moved or cleared by an editor until its send starts.

``send_at`` is an instant (UTC); editors give and read it on the clocks of the publisher's
``DIGEST_TIMEZONE``. An approved issue whose time has not come is not sent (``issues.queries``); a held one
is never sent, whatever its time. Each change is in the audit trail.
"""

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session

from digest.db.models import Issue, IssueStatus
from digest.errors import InvalidInput, InvalidState
from digest.issues.decisions import record
from digest.issues.queries import get_issue

CHANGEABLE = (IssueStatus.draft, IssueStatus.held, IssueStatus.approved)


def schedule(
    session: Session, number: int, at: datetime | None, *, zone: str, by: str, now: datetime
) -> Issue:
    """Give issue ``number`` the send time ``at`` (None: clear it, so it goes with the next send)."""
    issue = get_issue(session, number)
    if issue.status not in CHANGEABLE:
        raise InvalidState(f"issue {number} is {issue.status}: its send time can no longer change")
    if at is not None and at <= now:
        raise InvalidInput(f"{shown(at, zone)} is in the past: give a time to come")
    if issue.send_at == at:
        return issue
    issue.send_at = at
    issue.updated_at = now
    session.add(issue)
    detail = f"for {shown(at, zone)}" if at is not None else "cleared: goes with the next send"
    record(session, number, by=by, action="schedule", now=now, detail=detail)
    return issue


def shown(at: datetime, zone: str) -> str:
    """``at`` as the publisher reads it: ``2026-12-08 06:00 Europe/London``."""
    return f"{at.astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M} {zone}"


def field_value(at: datetime | None, zone: str) -> str:
    """``at`` as a date-time field shows it (``2026-12-08T06:00``), on the publisher's clocks."""
    return f"{at.astimezone(ZoneInfo(zone)):%Y-%m-%dT%H:%M}" if at is not None else ""
