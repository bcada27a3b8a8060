"""What each recipient of a send is sent: the shared body of their variant, read once per send, and their
envelope (their personal links, the one-click unsubscribe headers, the provider's tags), built once per
recipient: the send's hottest code.

The bodies are never filled here: the mailer fills each body's markers with an envelope's values
(locally, or as the provider's substitutions), so a body is rendered once per variant, not per person.
"""

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from sqlalchemy import Engine

from digest.core.addresses import domain_of
from digest.core.headers import list_unsubscribe_headers, message_id, one_click_url
from digest.core.personalize import Markers, RecipientLinks
from digest.db.engine import unit_of_work
from digest.db.models import Issue, IssueVariant
from digest.errors import InvalidState
from digest.mail import Envelope, SharedBody
from digest.sending.ledger import Recipient
from digest.tokens import Purpose, Reader, ReaderTags, Tokens

T = TypeVar("T")
KEPT_BODIES = 64  # a variant's deliveries are neighbours: beyond this many, the old ones are done


class RideOut(Protocol):
    """Runs one unit of work, waiting out a database restart (``IssueSender.riding_out``)."""

    def __call__(self, action: Callable[[], T]) -> T: ...


class Messages:
    """The bodies and envelopes of one sender's sends."""

    def __init__(
        self,
        engine: Engine,
        tokens: Tokens,
        *,
        from_: str,
        base_url: str,
        unsubscribe_mailto: str | None,
        ride_out: RideOut,
        readers: ReaderTags | None = None,
    ) -> None:
        """``readers``: under ``individual`` tracking, what signs each reader's tag into a render that holds
        the reader marker (``None``: such a render is filled with the links every reader shares)."""
        self.engine = engine
        self.readers = readers
        self.tokens = tokens
        self.from_ = from_
        self.base_url = base_url
        self.unsubscribe_mailto = unsubscribe_mailto
        self.ride_out = ride_out
        self.domain = domain_of(from_)  # parsed once: it names every Message-ID of the send
        self.bodies: dict[int | None, SharedBody] = {}
        self.positions: dict[int | None, int] = {}  # variant id -> its number within the issue
        self.markers: dict[int | None, Markers] = {}  # variant id -> its render's markers (None: issue's)

    def know(self, issue: Issue, variants: Sequence[IssueVariant]) -> None:
        """The variants stored when the send of ``issue`` started: their numbers and markers."""
        self.positions = {v.id: v.position for v in variants}
        self.markers = {None: Markers.of_render(issue.markers, issue.html)}
        self.markers.update((v.id, Markers.of_render(v.markers, v.html)) for v in variants)

    def start(self, issue: Issue) -> None:
        """Forget the bodies of an earlier send; the issue's own is the first."""
        self.bodies = {None: self.body(issue)}

    def body(self, email: Issue | IssueVariant) -> SharedBody:
        """The stored email of an issue or of one of its variants, as the mailer takes it."""
        return SharedBody(
            subject=email.subject,
            html=email.html,
            text=email.text,
            from_=self.from_,
            markers=Markers.of_render(email.markers, email.html),
        )

    def body_of(self, variant_id: int | None) -> SharedBody:
        """The stored email of one variant, read once per send (``None``: the issue's own)."""
        if variant_id not in self.bodies:
            if len(self.bodies) > KEPT_BODIES:
                self.bodies = {None: self.bodies[None]}
            self.bodies[variant_id] = self.ride_out(lambda: self.read_variant(variant_id))
        return self.bodies[variant_id]

    def read_variant(self, variant_id: int | None) -> SharedBody:
        with unit_of_work(self.engine) as session:
            variant = session.get(IssueVariant, variant_id)
            if variant is None:
                raise InvalidState(f"variant {variant_id} of the issue being sent is missing")
            return self.body(variant)

    def envelope(self, issue: Issue, recipient: Recipient) -> Envelope:
        """One recipient's envelope: the send's hottest code, run once per recipient."""
        markers = self.markers.get(recipient.variant_id) or self.markers_of(issue, recipient.variant_id)
        links = self.links_for(recipient, issue.number, per_reader=markers.per_reader)
        return Envelope(
            key=f"issue-{issue.number}/delivery-{recipient.delivery_id}",
            to=recipient.email,
            message_id=message_id(
                issue_number=issue.number,
                delivery_id=recipient.delivery_id,
                domain=self.domain,
            ),
            values=markers.values(links),
            headers=list_unsubscribe_headers(one_click_url(links.unsubscribe), self.unsubscribe_mailto),
            tags=self.tags(issue, recipient),
        )

    def markers_of(self, issue: Issue, variant_id: int | None) -> Markers:
        """The markers of the render a recipient gets: known since the send started, or (a variant another
        sender added since, for subscribers who joined) read once."""
        markers = self.markers.get(variant_id)
        if markers is None and variant_id is None:
            markers = self.markers[None] = Markers.of_render(issue.markers, issue.html)
        if markers is None:
            with unit_of_work(self.engine) as session:
                variant = session.get(IssueVariant, variant_id)
                if variant is None:
                    raise InvalidState(f"variant {variant_id} of the issue being sent is missing")
                markers = self.markers[variant_id] = Markers.of_render(variant.markers, variant.html)
        return markers

    def tags(self, issue: Issue, recipient: Recipient) -> dict[str, str]:
        """What the provider keeps with the message (no personal data): for its webhook and its reports."""
        tags = {"issue": str(issue.number), "delivery": str(recipient.delivery_id)}
        if recipient.variant_id in self.positions:
            tags["variant"] = str(self.positions[recipient.variant_id])
        return tags

    def links_for(
        self, recipient: Recipient, issue_number: int, *, per_reader: bool = False
    ) -> RecipientLinks:
        """The recipient's links in issue ``issue_number``: its unsubscribe link (in the footer and in the
        one-click header alike) and its preferences link name the issue, so leaving counts for it.
        ``per_reader``: the render holds the reader marker, filled with the reader's tag (one signature per
        recipient) under ``individual`` tracking."""
        base = self.base_url
        unsubscribe = self.tokens.sign(
            Purpose.unsubscribe, recipient.subscriber_id, recipient.nonce, issue_number
        )
        preferences = self.tokens.sign(
            Purpose.preferences, recipient.subscriber_id, recipient.nonce, issue_number
        )
        reader = ""
        if per_reader and self.readers is not None:
            reader = "/" + self.readers.sign(Reader(issue=issue_number, subscriber=recipient.subscriber_id))
        return RecipientLinks(
            unsubscribe=f"{base}/unsubscribe/{unsubscribe}",
            preferences=f"{base}/preferences/{preferences}",
            reader=reader,
        )
