"""Test helpers moved out of test_send.py, shared by the tests that need them."""

from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import col, select

from digest.db.engine import unit_of_work
from digest.db.models import Delivery, Issue, IssueStatus, Subscriber, SubscriberState
from digest.errors import MailError
from digest.ingest.summaries import ingest
from digest.issues.compose import ComposeRules, compose
from digest.issues.decisions import decide
from digest.mail import Envelope, Mailer, MemoryMailer, Outcome, OutgoingMessage, SharedBody
from digest.rendering import Renderer, SiteView
from digest.sending.outcomes import MAX_ATTEMPTS
from digest.sending.sender import IssueSender, SendSettings
from digest.sources.folder import FolderSource
from digest.subscribers import records as subscribers
from digest.tokens import Tokens
from tests.support import NOW, summary, write_summaries

BASE_URL = "https://digest.example.org"


FROM = "Research Digest <digest@news.example.org>"


SITE = SiteView(base_url=BASE_URL, postal_address="Research Digest, 1 Example Street, Springfield")


TOKENS = Tokens(["test-signing-key-not-for-production"])


RULES = ComposeRules(max_items=10, first_issue_lookback=timedelta(days=7))


T0 = NOW + timedelta(hours=1)


def approved_issue(engine: Engine, tmp_path: Path) -> int:
    """Ingest three summaries, compose issue 1 from them and approve it; return its number."""
    folder = tmp_path / "summaries"
    write_summaries(folder, "week.json", [summary(n) for n in range(1, 4)])
    renderer = Renderer(SITE)
    (report,) = ingest(engine, [FolderSource(folder)], renderer, now=NOW)
    assert (report.new, report.rejected) == (3, [])
    with unit_of_work(engine) as session:
        issue = compose(session, renderer, RULES, now=NOW)
        assert issue is not None
        decide(session, issue.number, IssueStatus.approved, by="editor", now=NOW)
        return issue.number


def add_subscriber(engine: Engine, address: str, state: SubscriberState = SubscriberState.active) -> None:
    consent = subscribers.Consent(form="test")
    with unit_of_work(engine) as session:
        subscriber = subscribers.add(
            session, address, confirmed=state != SubscriberState.pending, consent=consent, now=NOW
        )
        if state not in (SubscriberState.active, SubscriberState.pending):
            subscriber.state = state
            session.add(subscriber)


def readers(count: int) -> list[str]:
    return [f"reader{n}@example.org" for n in range(1, count + 1)]


def audience(engine: Engine, active: int) -> list[str]:
    """``active`` active subscribers, after one of every state that must receive nothing.

    The others come first so subscriber ids and delivery ids differ: a link signed for the wrong id shows.
    """
    add_subscriber(engine, "pending@example.org", SubscriberState.pending)
    add_subscriber(engine, "gone@example.org", SubscriberState.unsubscribed)
    add_subscriber(engine, "bounced@example.org", SubscriberState.bounced)
    add_subscriber(engine, "complained@example.org", SubscriberState.complained)
    for address in readers(active):
        add_subscriber(engine, address)
    return readers(active)


def make_sender(
    engine: Engine,
    mailer: Mailer,
    *,
    at: datetime = T0,
    batch_size: int = 500,
    unsubscribe_mailto: str | None = None,
) -> IssueSender:
    settings = SendSettings(
        from_=FROM, base_url=BASE_URL, batch_size=batch_size, unsubscribe_mailto=unsubscribe_mailto
    )
    sender = IssueSender(engine, mailer, TOKENS, settings, Renderer(SITE))
    sender.clock = lambda: at
    return sender


def ledger(engine: Engine, number: int) -> dict[str, Delivery]:
    """The deliveries of issue ``number`` by subscriber address."""
    with unit_of_work(engine) as session:
        query = (
            select(Delivery, Subscriber)
            .join(Subscriber, col(Subscriber.id) == col(Delivery.subscriber_id))
            .join(Issue, col(Issue.id) == col(Delivery.issue_id))
            .where(Issue.number == number)
        )
        return {subscriber.email: delivery for delivery, subscriber in session.exec(query)}


def statuses(engine: Engine, number: int) -> dict[str, str]:
    return {address: delivery.status for address, delivery in ledger(engine, number).items()}


def issue_status(engine: Engine, number: int) -> str:
    with unit_of_work(engine) as session:
        issue = session.exec(select(Issue).where(Issue.number == number)).one()
        return issue.status


class Recording(Mailer):
    """Hands every message to ``inner`` and remembers each recipient; ``crash_on`` dies during that batch.

    The crash hands the batch's first message over, then raises ``KeyboardInterrupt``: the process is gone
    after the mailer took part of a claimed batch and before anything was recorded.
    """

    def __init__(
        self,
        inner: Mailer,
        *,
        crash_on: int | None = None,
        before_batch: Callable[[list[str]], None] | None = None,
    ) -> None:
        self.inner = inner
        self.crash_on = crash_on
        self.before_batch = before_batch
        self.batches: list[list[str]] = []
        self.handed: list[str] = []

    def send(self, message: OutgoingMessage) -> str:
        self.handed.append(message.to)
        return self.inner.send(message)

    def send_batch(self, body: SharedBody, envelopes: Sequence[Envelope]) -> list[Outcome]:
        self.batches.append([envelope.to for envelope in envelopes])
        if self.before_batch:
            self.before_batch(self.batches[-1])
        if len(self.batches) == self.crash_on:
            super().send_batch(body, envelopes[:1])
            raise KeyboardInterrupt
        return super().send_batch(body, envelopes)


class Flaky(MemoryMailer):
    """Fails with ``error`` for ``address`` the first ``times`` attempts (``None``: every attempt)."""

    def __init__(self, address: str, error: MailError, times: int | None = None) -> None:
        super().__init__()
        self.address = address
        self.error = error
        self.times = times
        self.attempts: Counter[str] = Counter()

    def send(self, message: OutgoingMessage) -> str:
        self.attempts[message.to] += 1
        # Not a MailError: a sender that retries past MAX_ATTEMPTS fails the test instead of looping.
        assert self.attempts[message.to] <= MAX_ATTEMPTS, f"{message.to} tried more than {MAX_ATTEMPTS} times"
        if message.to == self.address and (self.times is None or self.attempts[message.to] <= self.times):
            raise self.error
        return super().send(message)
