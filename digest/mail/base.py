"""The Mailer interface: what the sending service needs from any mail backend.

Adapters map their own failures once, here at the edge, to ``TransientMailError`` (try again later) or
``PermanentMailError`` (this message will never go), raised ``from`` the original error.
"""

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field

from digest.errors import MailError


@dataclass(frozen=True)
class OutgoingMessage:
    """One message, fully personalised. ``key`` identifies it for idempotent backends and logs."""

    key: str
    to: str
    from_: str
    subject: str
    html: str
    text: str
    message_id: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    """What happened to one message of a batch: a provider id, or the error."""

    key: str
    provider_id: str | None = None
    error: MailError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class Mailer(ABC):
    """A mail backend. ``send_batch`` may be overridden by backends that send many at once."""

    name: str = "mailer"

    @abstractmethod
    def send(self, message: OutgoingMessage) -> str:
        """Hand one message over; return the backend's id for it, or raise a ``MailError``."""

    def send_batch(self, messages: Sequence[OutgoingMessage]) -> list[Outcome]:
        outcomes = []
        for message in messages:
            try:
                outcomes.append(Outcome(message.key, provider_id=self.send(message)))
            except MailError as exc:
                outcomes.append(Outcome(message.key, error=exc))
        return outcomes

    def close(self) -> None:  # noqa: B027 (optional hook: most backends hold no connection)
        """Release connections; the default holds none."""
