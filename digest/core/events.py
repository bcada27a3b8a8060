"""A provider's event in the product's own values: what a mail adapter reads from its provider's format
(``mail/sendgrid_events.py``) or a send learns from an SMTP answer, and ``subscribers/events.py`` keeps
and applies. Pure values, no I/O.

``event`` uses the product's names, the ones its rules and stored events speak of: ``processed``,
``deferred``, ``delivered``, ``bounce`` (``bounce_type`` ``bounce`` or ``blocked``), ``dropped``,
``spamreport``, ``unsubscribe``, ``group_unsubscribe``; any other name is kept and changes nothing.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from digest.core.summary import printable


@dataclass(frozen=True)
class EventIn:
    """The parts of one provider event that digest uses. ``event_id`` is unique per event (a replay
    carries the same one); ``delivery_id`` names the delivery the message was for, when known."""

    event_id: str
    event: str
    email: str
    occurred_at: datetime
    bounce_type: str | None = None
    reason: str | None = None
    delivery_id: int | None = None
    # Open and click events (the provider's own tracking): the link followed, the client's address and
    # user agent (hashed into a visitor, never stored), and whether the provider took it for a machine.
    url: str | None = None
    client: str = ""
    user_agent: str = ""
    machine: bool = False


def kept_text(value: Any, limit: int) -> str | None:
    """A string of an event as the database can keep it (no NUL, no lone surrogates), or None."""
    if not isinstance(value, str) or not value:
        return None
    return printable(value.strip(), limit=limit)[:limit] or None
