"""What a batch's outcomes write: its deliveries grouped by the values they set (one UPDATE per group,
``ledger.record_groups``), and the receiving server's answers about recipients (SMTP), which are kept and
applied as a provider's events (``subscribers/events.py``).

A transient error sends a delivery back to ``pending`` until it has been tried ``MAX_ATTEMPTS`` times; a
permanent one fails it at once. Someone who left after the batch was claimed is ``skipped``.
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from digest.core.events import EventIn
from digest.db.models import DeliveryStatus
from digest.errors import TransientMailError
from digest.mail import Outcome
from digest.sending.ledger import Changes, Recipient
from digest.subscribers import events

MAX_ATTEMPTS = 3


@dataclass
class Outcomes:
    """A batch's outcomes as they are written, and how many were sent, failed and skipped."""

    groups: Changes = field(default_factory=dict)
    answers: list[EventIn] = field(default_factory=list)  # the receiving server's, about recipients
    sent: int = 0
    failed: int = 0
    skipped: int = 0


def grouped(
    gone: list[Recipient],
    going: list[Recipient],
    outcomes: Sequence[Outcome],
    *,
    now: datetime,
    answers_per_recipient: bool,
) -> Outcomes:
    """The writes of one batch: ``gone`` skipped, each of ``going`` by its outcome. ``answers_per_recipient``:
    the mailer hears the receiving server about each recipient (SMTP), so its refusals are events."""
    done = (("lease_until", None), ("claimed_by", None), ("updated_at", now))
    groups: Changes = defaultdict(list)
    result = Outcomes(groups=groups, skipped=len(gone))
    if gone:
        groups[(("status", DeliveryStatus.skipped), *done)] = [r.delivery_id for r in gone]
    for recipient, outcome in zip(going, outcomes, strict=True):
        if outcome.ok:
            key: tuple[tuple[str, object], ...] = (
                ("status", DeliveryStatus.sent),
                ("sent_at", now),
                ("provider_message_id", outcome.provider_id),
                *done,
            )
            result.sent += 1
            if recipient.attempts > 1 and answers_per_recipient:  # taken at last: ends a run of blocks
                result.answers.append(smtp_answer(recipient, None, "accepted", now))
        else:
            status = status_after_error(recipient, outcome)
            key = (("status", status), ("last_error", str(outcome.error)[:1000]), *done)
            result.failed += status == DeliveryStatus.failed
            if outcome.error is not None and outcome.error.bounce is not None:
                result.answers.append(smtp_answer(recipient, outcome.error.bounce, str(outcome.error), now))
        groups[key].append(recipient.delivery_id)
    return result


def smtp_answer(recipient: Recipient, bounce: str | None, reply: str, now: datetime) -> EventIn:
    return events.smtp_answer(
        recipient.email,
        bounce,
        reply,
        delivery_id=recipient.delivery_id,
        attempt=recipient.attempts,
        now=now,
    )


def status_after_error(recipient: Recipient, outcome: Outcome) -> DeliveryStatus:
    """A transient error goes back to pending until ``MAX_ATTEMPTS``; a permanent one fails at once."""
    if isinstance(outcome.error, TransientMailError) and recipient.attempts < MAX_ATTEMPTS:
        return DeliveryStatus.pending
    return DeliveryStatus.failed
