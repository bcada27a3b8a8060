"""The Mailer interface: what the sending service needs from any mail backend.

A send hands over batches of one ``SharedBody`` (rendered once per issue, per-recipient values still as
that render's markers) and many ``Envelope``s (recipient, Message-ID, marker values, headers, tags). A
backend that can substitute itself (SendGrid) sends the body once per request; the others fill each
message locally.

Adapters map their own failures once, here at the edge, to ``TransientMailError`` (try again later),
``PermanentMailError`` (this message will never go) or ``MailerUnusable`` (no message can go: stop),
raised ``from`` the original error.
"""

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Self

from digest.core.personalize import Markers, Personalizer, neutralised
from digest.errors import MailError, MailerUnusable, TransientMailError


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
class SharedBody:
    """What every recipient of a batch shares: rendered once, with the per-recipient markers of
    ``markers`` (the render's own; ``None``: nothing to fill)."""

    subject: str
    html: str
    text: str
    from_: str
    category: str = "digest"
    markers: Markers | None = None

    def __post_init__(self) -> None:
        # A subject holds a summary's headline or an editor's words, and providers substitute markers in
        # subjects too: a marker written there would be filled with each reader's link.
        object.__setattr__(self, "subject", neutralised(self.subject))


@dataclass(slots=True)
class Envelope:
    """One recipient of a shared body. ``tags`` travel with the message (no personal data in them)."""

    key: str
    to: str
    message_id: str
    values: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


class Outcome(NamedTuple):
    """What happened to one message of a batch: a provider id, or the error. (A named tuple, and the
    envelope a dataclass that is not frozen: a send makes one of each per recipient, and those are two
    and three times cheaper to make than frozen dataclasses.)"""

    key: str
    provider_id: str | None = None
    error: MailError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class Mailer(ABC):
    """A mail backend. ``send_batch`` may be overridden by backends that send many at once."""

    name: str = "mailer"
    # True when the server this backend hands messages to says itself whether it takes each recipient
    # (SMTP): its refusals are bounces (``MailError.bounce``) and its acceptance of a retried message is a
    # delivery, which ends a run of blocks as a provider's ``delivered`` event would.
    server_answers_per_recipient: bool = False

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @abstractmethod
    def send(self, message: OutgoingMessage) -> str:
        """Hand one message over; return the backend's id for it, or raise a ``MailError``."""

    def send_batch(self, body: SharedBody, envelopes: Sequence[Envelope]) -> list[Outcome]:
        """One outcome per envelope, in order; ``MailerUnusable`` is raised. Fills the markers locally."""
        html, text = Personalizer(body.html, body.markers), Personalizer(body.text, body.markers)
        outcomes = []
        for envelope in envelopes:
            message = OutgoingMessage(
                key=envelope.key,
                to=envelope.to,
                from_=body.from_,
                subject=body.subject,
                html=html.fill_values(envelope.values),
                text=text.fill_values(envelope.values),
                message_id=envelope.message_id,
                headers=envelope.headers,
            )
            try:
                outcomes.append(Outcome(envelope.key, provider_id=self.send(message)))
            except MailerUnusable:
                raise  # no message can go: the sender pauses instead of failing each recipient
            except MailError as exc:
                outcomes.append(Outcome(envelope.key, error=exc))
        return outcomes

    def send_batches(self, batches: Sequence[tuple[SharedBody, Sequence[Envelope]]]) -> list[list[Outcome]]:
        """Several bodies, each with its recipients (the variants of one claimed batch): their outcomes,
        one list per body, in order.

        ``MailerUnusable`` is raised only when nothing went; a refusal after some messages went reports
        the rest as transient errors instead (back to pending; the next batch's refusal pauses the send),
        since raising would lose the record of what was sent.
        """
        results: list[list[Outcome]] = []
        refusal: MailerUnusable | None = None
        for body, envelopes in batches:
            if refusal is None:
                try:
                    results.append(self.send_batch(body, envelopes))
                    continue
                except MailerUnusable as exc:
                    refusal = exc
            results.append(not_sent(envelopes, refusal))
        if refusal is not None and not any(outcome.ok for result in results for outcome in result):
            raise refusal
        return results

    def close(self) -> None:  # noqa: B027 (optional hook: most backends hold no connection)
        """Release connections; the default holds none."""


def not_sent(envelopes: Sequence[Envelope], refusal: MailerUnusable) -> list[Outcome]:
    """Outcomes for messages never handed over because the backend refused: to be tried again."""
    error = TransientMailError(f"not sent: {refusal}")
    return [Outcome(envelope.key, error=error) for envelope in envelopes]
