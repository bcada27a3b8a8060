"""Send: deliver an approved issue to every active subscriber exactly once, resumable after any crash.

The guarantee rests on the delivery ledger:
1. Starting a send writes one ``pending`` delivery per active subscriber, in the same transaction that
   moves the issue to ``sending``; someone who joins later waits for the next issue.
2. A batch is claimed (``pending`` -> ``sending`` with a lease) and committed *before* any message is
   handed to the mailer, and the outcome (``sent``/``failed``) is committed right after.
3. A run that dies leaves at most one batch in ``sending``; once its lease expires the batch is sent
   again (the outbox rewrites the same files, so nothing doubles there). Everything ``sent`` stays sent.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from time import monotonic
from typing import Protocol

from sqlalchemy import Engine, insert, literal, or_, update
from sqlalchemy import select as select_columns
from sqlmodel import Session, col, func, select

from digest.core.headers import list_unsubscribe_headers, message_id, one_click_url
from digest.db.engine import unit_of_work
from digest.db.models import Delivery, DeliveryStatus, Issue, IssueStatus, Subscriber, SubscriberState
from digest.db.types import UTCDateTime
from digest.errors import InvalidState, NotFound, TransientMailError
from digest.mail import Mailer, Outcome, OutgoingMessage
from digest.mail.mime import domain_of
from digest.rendering import Personalizer, RecipientLinks
from digest.tokens import Purpose, Tokens

MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class SendSettings:
    from_: str
    base_url: str
    batch_size: int = 500
    lease: timedelta = timedelta(minutes=2)
    unsubscribe_mailto: str | None = None


@dataclass
class SendReport:
    issue_number: int
    audience: int = 0
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    in_flight: int = 0
    seconds: float = 0.0
    dry_run: bool = False

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else 0.0


class SendProgress(Protocol):
    def start(self, total: int, done: int) -> None: ...

    def advance(self, count: int) -> None: ...


@dataclass(frozen=True)
class Recipient:
    delivery_id: int
    subscriber_id: int
    email: str
    state: str
    nonce: str
    attempts: int = 1


def now_utc() -> datetime:
    return datetime.now(UTC)


def next_issue_to_send(session: Session) -> Issue | None:
    """An interrupted send first, then the oldest approved issue."""
    for status in (IssueStatus.sending, IssueStatus.approved):
        query = select(Issue).where(Issue.status == status).order_by(col(Issue.number))
        issue = session.exec(query).first()
        if issue is not None:
            return issue
    return None


def get_issue(session: Session, number: int) -> Issue:
    issue = session.exec(select(Issue).where(Issue.number == number)).first()
    if issue is None:
        raise NotFound(f"there is no issue {number}")
    return issue


def begin(session: Session, issue: Issue, *, now: datetime) -> None:
    """Move an approved issue to ``sending`` and write its audience into the ledger, atomically."""
    if issue.status == IssueStatus.sending:
        return
    if issue.status != IssueStatus.approved:
        raise InvalidState(f"issue {issue.number} is {issue.status}; only an approved issue can be sent")
    audience = select_columns(
        literal(issue.id),
        col(Subscriber.id),
        literal(DeliveryStatus.pending.value),
        literal(0),
        literal(now, UTCDateTime()),
        literal(now, UTCDateTime()),
    ).where(col(Subscriber.state) == SubscriberState.active)
    columns = ["issue_id", "subscriber_id", "status", "attempts", "created_at", "updated_at"]
    session.execute(insert(Delivery).from_select(columns, audience))
    issue.status = IssueStatus.sending
    issue.send_started_at = now
    issue.updated_at = now
    session.add(issue)


class IssueSender:
    """Sends one issue through one mailer, batch by batch."""

    def __init__(self, engine: Engine, mailer: Mailer, tokens: Tokens, settings: SendSettings) -> None:
        self.engine = engine
        self.mailer = mailer
        self.tokens = tokens
        self.settings = settings
        self.clock: Callable[[], datetime] = now_utc

    def send(self, number: int, *, progress: SendProgress | None = None) -> SendReport:
        started = monotonic()
        with unit_of_work(self.engine) as session:
            issue = get_issue(session, number)
            begin(session, issue, now=self.clock())
            counts = delivery_counts(session, issue.id or 0)
        report = SendReport(issue_number=number, audience=sum(counts.values()))
        if progress:
            progress.start(report.audience, report.audience - counts["pending"] - counts["sending"])
        html, text = Personalizer(issue.html), Personalizer(issue.text)
        while batch := self.claim(issue):
            self.deliver(issue, batch, html, text, report)
            if progress:
                progress.advance(len(batch))
        report.in_flight = self.finish(issue)
        report.seconds = monotonic() - started
        return report

    def claim(self, issue: Issue) -> list[Recipient]:
        """Take the next batch: pending rows, and rows whose lease ran out (a crashed run's batch)."""
        now = self.clock()
        with unit_of_work(self.engine) as session:
            ids_query = (
                select(Delivery.id)
                .where(
                    Delivery.issue_id == issue.id,
                    or_(
                        col(Delivery.status) == DeliveryStatus.pending,
                        (col(Delivery.status) == DeliveryStatus.sending) & (col(Delivery.lease_until) < now),
                    ),
                )
                .order_by(col(Delivery.id))
                .limit(self.settings.batch_size)
                # Several workers on PostgreSQL each take different rows; SQLite ignores this.
                .with_for_update(skip_locked=True)
            )
            ids = list(session.exec(ids_query))
            if not ids:
                return []
            session.execute(
                update(Delivery)
                .where(col(Delivery.id).in_(ids))
                .values(
                    status=DeliveryStatus.sending,
                    lease_until=now + self.settings.lease,
                    attempts=col(Delivery.attempts) + 1,
                    updated_at=now,
                )
            )
            rows = session.execute(
                select_columns(
                    col(Delivery.id),
                    col(Subscriber.id),
                    col(Subscriber.email),
                    col(Subscriber.state),
                    col(Subscriber.token_nonce),
                    col(Delivery.attempts),
                )
                .join(Subscriber, col(Subscriber.id) == col(Delivery.subscriber_id))
                .where(col(Delivery.id).in_(ids))
                .order_by(col(Delivery.id))
            )
            return [
                Recipient(d or 0, s or 0, email, state, nonce, tries)
                for d, s, email, state, nonce, tries in rows
            ]

    def deliver(
        self, issue: Issue, batch: list[Recipient], html: Personalizer, text: Personalizer, report: SendReport
    ) -> None:
        # Someone who left after the send started is skipped, never mailed.
        gone = [r for r in batch if r.state != SubscriberState.active]
        going = [r for r in batch if r.state == SubscriberState.active]
        messages = [self.message(issue, recipient, html, text) for recipient in going]
        outcomes = self.mailer.send_batch(messages) if messages else []
        self.record(gone, going, outcomes, report)

    def message(
        self, issue: Issue, recipient: Recipient, html: Personalizer, text: Personalizer
    ) -> OutgoingMessage:
        links = self.links_for(recipient)
        headers = list_unsubscribe_headers(one_click_url(links.unsubscribe), self.settings.unsubscribe_mailto)
        return OutgoingMessage(
            key=f"issue-{issue.number}/delivery-{recipient.delivery_id}",
            to=recipient.email,
            from_=self.settings.from_,
            subject=issue.subject,
            html=html.fill(links),
            text=text.fill(links),
            message_id=message_id(
                issue_number=issue.number,
                delivery_id=recipient.delivery_id,
                domain=domain_of(self.settings.from_),
            ),
            headers=headers,
        )

    def links_for(self, recipient: Recipient) -> RecipientLinks:
        base = self.settings.base_url
        unsubscribe = self.tokens.sign(Purpose.unsubscribe, recipient.subscriber_id, recipient.nonce)
        preferences = self.tokens.sign(Purpose.preferences, recipient.subscriber_id, recipient.nonce)
        return RecipientLinks(
            unsubscribe=f"{base}/unsubscribe/{unsubscribe}", preferences=f"{base}/preferences/{preferences}"
        )

    def record(
        self, gone: list[Recipient], going: list[Recipient], outcomes: Sequence[Outcome], report: SendReport
    ) -> None:
        now = self.clock()
        changes: list[dict[str, object]] = [
            {"id": r.delivery_id, "status": DeliveryStatus.skipped, "lease_until": None, "updated_at": now}
            for r in gone
        ]
        for recipient, outcome in zip(going, outcomes, strict=True):
            change: dict[str, object] = {"id": recipient.delivery_id, "lease_until": None, "updated_at": now}
            if outcome.ok:
                change.update(
                    status=DeliveryStatus.sent, sent_at=now, provider_message_id=outcome.provider_id
                )
                report.sent += 1
            else:
                change.update(
                    status=self.status_after_error(recipient, outcome), last_error=str(outcome.error)[:1000]
                )
                report.failed += change["status"] == DeliveryStatus.failed
            changes.append(change)
        report.skipped += len(gone)
        if changes:
            with unit_of_work(self.engine) as session:
                session.execute(update(Delivery), changes)

    @staticmethod
    def status_after_error(recipient: Recipient, outcome: Outcome) -> DeliveryStatus:
        """A transient error goes back to pending until ``MAX_ATTEMPTS``; a permanent one fails at once."""
        if isinstance(outcome.error, TransientMailError) and recipient.attempts < MAX_ATTEMPTS:
            return DeliveryStatus.pending
        return DeliveryStatus.failed

    def finish(self, issue: Issue) -> int:
        """Mark the issue sent when no delivery is left; return how many are still leased elsewhere."""
        with unit_of_work(self.engine) as session:
            open_rows = session.exec(
                select(func.count())
                .select_from(Delivery)
                .where(
                    Delivery.issue_id == issue.id,
                    col(Delivery.status).in_([DeliveryStatus.pending, DeliveryStatus.sending]),
                )
            ).one()
            if open_rows == 0:
                fresh = get_issue(session, issue.number)
                if fresh.status == IssueStatus.sending:
                    fresh.status = IssueStatus.sent
                    fresh.sent_at = fresh.updated_at = self.clock()
                    session.add(fresh)
            return int(open_rows)


def delivery_counts(session: Session, issue_id: int) -> dict[str, int]:
    rows = session.exec(
        select(Delivery.status, func.count())
        .where(Delivery.issue_id == issue_id)
        .group_by(col(Delivery.status))
    )
    counts = {status.value: 0 for status in DeliveryStatus}
    counts.update({status: count for status, count in rows})
    return counts


def dry_run(engine: Engine, number: int, sender: IssueSender) -> SendReport:
    """Count the audience and render one recipient's message, sending nothing and writing nothing."""
    with unit_of_work(engine) as session:
        issue = get_issue(session, number)
        if issue.status not in (
            IssueStatus.approved,
            IssueStatus.sending,
            IssueStatus.draft,
            IssueStatus.held,
        ):
            raise InvalidState(f"issue {number} is {issue.status}; there is nothing left to send")
        audience = session.exec(
            select(func.count()).select_from(Subscriber).where(Subscriber.state == SubscriberState.active)
        ).one()
        sample = Recipient(0, 0, "reader@example.org", SubscriberState.active, "dry-run")
        sender.message(issue, sample, Personalizer(issue.html), Personalizer(issue.text))
    return SendReport(issue_number=number, audience=int(audience), dry_run=True)
