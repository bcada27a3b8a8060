"""What a send reports as it goes and when it ends (``SendReport``, ``SendProgress``), and the batch it
has claimed and prepared (``Prepared``)."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from digest.mail import Envelope
from digest.sending.counts import VariantCounts
from digest.sending.ledger import Recipient


@dataclass
class SendReport:
    issue_number: int
    audience: int = 0
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    unmatched: int = 0  # subscribers whose topics select none of the issue's summaries: no email
    in_flight: int = 0
    waiting: int = 0  # deliveries whose wave is still to come (local-time delivery)
    next_wave: datetime | None = None
    seconds: float = 0.0
    dry_run: bool = False
    paused: str | None = None
    variants: list[VariantCounts] = field(default_factory=list)  # the whole send's, not just this run's

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class Prepared:
    """A claimed batch: every claimed recipient, those still active, and their envelopes."""

    recipients: list[Recipient]
    going: list[Recipient]
    envelopes: list[Envelope]


class SendProgress(Protocol):
    def start(self, total: int, done: int) -> None: ...

    def advance(self, count: int) -> None: ...
