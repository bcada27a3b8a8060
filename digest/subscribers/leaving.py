"""Which issue an unsubscribe came from: one ``engagement`` row per subscriber who actually left.

An unsubscribe link (in the footer, or the ``List-Unsubscribe`` URL a mail client POSTs to) carries the
number of the issue whose email held it. When following it changes the subscriber's state, one row is
appended: action ``unsubscribe``, that issue, and how it came (``link``: the page's button; ``one-click``:
the RFC 8058 POST). A second click changes nothing and records nothing, so each leaver counts once.

The row names nobody unless ``DIGEST_TRACKING=individual``; under ``aggregate`` and ``off`` it holds the
issue, the source and the time only. It is kept under ``off`` too: a count of unsubscribes per issue is
not click tracking (nothing is added to the email, no link is rewritten) and it is the publisher's basic
figure, which the older rule (``engagement/report.py``) would otherwise only guess from timestamps.
The email's preferences link names its issue too, so "Leave" on the page it opens counts for that
issue (``prefs``). A link signed before links carried an issue records nothing; the report counts such
leavers by that older rule. The subscriber's row says only whether their last unsubscribe was recorded
(``unsubscribe_recorded``, cleared when they rejoin), never which issue: so the older rule skips them.
"""

import enum
from datetime import datetime

from sqlmodel import Session

from digest.core.engagement import UNSUBSCRIBE, Tracking
from digest.db.models import Engagement, Subscriber


class LeftBy(enum.StrEnum):
    """How the reader used the unsubscribe link."""

    link = "link"  # opened it and pressed the button on its page
    one_click = "one-click"  # their mail client's one-click unsubscribe (RFC 8058 POST)
    preferences = "prefs"  # "Leave" on the preferences page the email's "Manage preferences" opened


def record_leaving(
    session: Session, subscriber: Subscriber, issue: int, by: LeftBy, tracking: Tracking, *, now: datetime
) -> None:
    """Append that ``subscriber`` left from issue ``issue`` (naming them under ``individual`` only). The
    state change (``subscriptions.unsubscribe_once``) has marked them ``unsubscribe_recorded``."""
    named = subscriber.id if tracking == Tracking.individual else None
    row = Engagement(
        issue_number=issue, action=UNSUBSCRIBE, source=str(by), visitor="", subscriber_id=named, at=now
    )
    session.add(row)
