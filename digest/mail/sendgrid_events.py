"""SendGrid's Event Webhook format, stopped here beside the SendGrid adapter: the signature and the age of
its timestamp (``web/webhooks.py`` says why both), and the events of a body read into the product's own
values (``core.events.EventIn``), so nothing above the adapter knows SendGrid's field names.

An event is read when it has an event type and an address; anything else in the body is counted as
malformed and skipped, never a reason to refuse the rest. Its id is SendGrid's ``sg_event_id``; an event
without one is identified by its own content. Its delivery is the ``delivery`` custom arg the SendGrid
mailer sets on every message. Open and click events (SendGrid's own tracking, when a publisher turns it
on) also carry the link followed, the client's address and user agent, and ``sg_machine_open``.

Imports ``digest.core``, ``digest.errors`` and the ``sendgrid`` helper; never ``digest.db``.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from sendgrid.helpers.eventwebhook import EventWebhook

from digest.core.events import EventIn, kept_text
from digest.errors import ConfigError, InvalidInput

MAX_AGE = timedelta(minutes=10)
# The two headers that sign a request.
SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"


class EventSignatures:
    """Checks SendGrid's signature and its timestamp's age, with the account's public key."""

    def __init__(self, public_key: str, *, max_age: timedelta = MAX_AGE) -> None:
        try:
            self._helper = EventWebhook(public_key.strip())
            if not isinstance(self._helper.public_key, ec.EllipticCurvePublicKey):
                raise TypeError("not an elliptic curve key")
        except Exception as exc:  # the key cannot be read, whatever the library's reason
            raise ConfigError(
                "DIGEST_SENDGRID_WEBHOOK_PUBLIC_KEY is not a valid public key: paste the verification key "
                "from SendGrid's Mail Settings > Signed Event Webhook (base64, starting MFkw)"
            ) from exc
        self.max_age = max_age

    def refusal(self, body: bytes, signature: str, timestamp: str, *, now: datetime) -> str | None:
        """Why the request is not genuine and fresh, or None when it is."""
        if not signature or not timestamp:
            return "the signature headers are missing"
        if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
            return "the timestamp is not a number of seconds"
        # Compared as seconds: a datetime cannot hold every 12-digit timestamp (year 33658 and beyond).
        if abs(now.timestamp() - int(timestamp)) > self.max_age.total_seconds():
            return f"the timestamp is more than {self.max_age.total_seconds() / 60:.0f} minutes from now"
        try:
            # The helper prefixes the timestamp and encodes to UTF-8: bytes that are not UTF-8 were
            # not what SendGrid signed. A signature that is not base64 raises instead of returning False.
            genuine = bool(self._helper.verify_signature(body.decode("utf-8"), signature, timestamp))
        except Exception:  # any failure to verify is a refusal, never a 500
            genuine = False
        return None if genuine else "the signature does not match"


@dataclass(frozen=True)
class EventBatch:
    """The events of one request: those read, and how many it carried (the rest were malformed)."""

    events: list[EventIn]
    received: int


def parse(body: bytes, *, now: datetime) -> EventBatch:
    """The events of a webhook body; ``InvalidInput`` when the body is not a JSON array. ``now`` dates
    an event without a usable timestamp."""
    try:
        raws: Any = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise InvalidInput("the body is not JSON") from exc
    if not isinstance(raws, list):
        raise InvalidInput("the body must be a JSON array of events")
    events = [event for event in (read_event(raw, now=now) for raw in raws) if event is not None]
    return EventBatch(events, len(raws))


def read_event(raw: Any, *, now: datetime) -> EventIn | None:
    """The event in ``raw``, or None when it lacks an event type or an address."""
    if not isinstance(raw, dict):
        return None
    event, email = kept_text(raw.get("event"), 40), raw.get("email")
    if not (event and isinstance(email, str) and email.strip() and kept_text(email, 320) == email.strip()):
        return None
    event_id = kept_text(raw.get("sg_event_id"), 200)
    if not event_id or event_id != raw.get("sg_event_id"):
        # SendGrid always sends one; without it, the event's own content is its identity.
        payload = json.dumps(raw, sort_keys=True, default=str)
        event_id = "sha256:" + hashlib.sha256(payload.encode("utf-8", "replace")).hexdigest()
    return EventIn(
        event_id=event_id,
        event=event,
        email=email.strip(),
        occurred_at=event_time(raw.get("timestamp"), now=now),
        bounce_type=kept_text(raw.get("type"), 20),
        reason=kept_text(raw.get("reason") or raw.get("response"), 1000),
        delivery_id=number(raw.get("delivery")),
        url=kept_text(raw.get("url"), 2000),
        client=kept_text(raw.get("ip"), 64) or "",
        user_agent=kept_text(raw.get("useragent"), 500) or "",
        # SendGrid marks the opens Apple Mail Privacy Protection makes on delivery.
        machine=raw.get("sg_machine_open") is True,
    )


def event_time(value: Any, *, now: datetime) -> datetime:
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return now


def number(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 < value < 2**63 else None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 19:
        return int(value)
    return None
