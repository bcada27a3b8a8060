"""Send: deliver an approved issue to every active subscriber exactly once, resumable after any crash.

The guarantee rests on the delivery ledger (``sending/ledger.py``):
1. Starting a send writes one ``pending`` delivery per active subscriber, with the variant of the issue
   their topics select (``sending/variants.py``: each rendered once, then), in the same transaction
   that moves the issue to ``sending``; someone who joins later waits for the next issue, and someone
   whose topics select none of its summaries gets an ``unmatched`` delivery and no email.
2. A batch is claimed (``pending`` -> ``sending`` with a lease) and committed *before* any message is
   handed to the mailer, and the outcome (``sent``/``failed``) is committed right after.
3. A run that dies leaves at most one batch in ``sending``; once its lease expires the batch is sent
   again (the outbox rewrites the same files, so nothing doubles there). Everything ``sent`` stays sent.
   The lease covers the time a sender may wait for the database on top of handing the batch over, so
   a sender riding out a restart never loses its batch to another (``claim_lease``).

A mailer that refuses everything (``MailerUnusable``: bad credentials) or a run of consecutive errors
pauses the send with its reason; nothing of the batch in hand is marked sent, and ``--resume`` goes on.
"""

import gc
import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from time import monotonic, perf_counter
from typing import Protocol, TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, func, select

from digest.core.addresses import domain_of
from digest.core.clock import utc_now
from digest.core.headers import list_unsubscribe_headers, message_id, one_click_url
from digest.core.personalize import Markers, Personalizer, RecipientLinks
from digest.db.engine import one_snapshot, ride_out, serialization_failure, unit_of_work
from digest.db.models import DeliveryStatus, Issue, IssueStatus, IssueVariant, Subscriber, SubscriberState
from digest.errors import DatabaseError, InvalidState, MailerUnusable, TransientMailError
from digest.issues.queries import get_issue
from digest.mail import Envelope, Mailer, Outcome, SharedBody
from digest.rendering import Renderer
from digest.sending import held, ledger, variants, waves
from digest.sending.ledger import Recipient, VariantCounts, delivery_counts
from digest.subscribers import events
from digest.tokens import Purpose, Tokens

log = logging.getLogger("digest.sending")

MAX_ATTEMPTS = 3
RARE_COLLECTIONS = 50_000  # new objects between two runs of the garbage collector during a send
START_ATTEMPTS = 3  # tries to begin a send that another sender is beginning at the same moment

T = TypeVar("T")


@dataclass(frozen=True)
class SendSettings:
    from_: str
    base_url: str
    batch_size: int = 500
    lease: timedelta = timedelta(minutes=2)
    unsubscribe_mailto: str | None = None
    rate: float = 0.0  # messages per second per sender; 0: as fast as the backend takes them
    pause_after_errors: int = 100  # consecutive failed messages before the send pauses itself
    blocked_in_a_row: int = 3  # blocked refusals in a row that make a subscriber bounced (events.py)
    outage: timedelta = timedelta(minutes=2)  # how long to wait for the database to come back
    held_outcomes: Path | None = None  # where outcomes go when it does not (None: nowhere, tests)
    local: waves.LocalDelivery | None = None  # DIGEST_DELIVERY=local: waves by readers' zones


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


class IssueSender:
    """Sends issues through one mailer, batch by batch. ``stop()`` ends it after the batch in hand."""

    def __init__(
        self, engine: Engine, mailer: Mailer, tokens: Tokens, settings: SendSettings, renderer: Renderer
    ) -> None:
        self.engine = engine
        self.mailer = mailer
        self.tokens = tokens
        self.settings = settings
        self.renderer = renderer  # renders the issue's variants, once each, when its send starts
        self._bodies: dict[int | None, SharedBody] = {}
        self._positions: dict[int | None, int] = {}  # variant id -> its number within the issue
        self._markers: dict[int | None, Markers] = {}  # variant id -> its render's markers (None: issue's)
        self.domain = domain_of(settings.from_)  # parsed once: it names every Message-ID of the send
        self.clock: Callable[[], datetime] = utc_now
        self.timings: defaultdict[str, float] = defaultdict(float)
        self._after = 0  # the last delivery id this sender claimed
        self._stopping = threading.Event()

    def __enter__(self) -> "IssueSender":
        return self

    def __exit__(self, *_: object) -> None:
        """Close the mailer: its connections (SMTP, HTTP) go with the sender."""
        self.mailer.close()

    def stop(self) -> None:
        self._stopping.set()

    @contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        """Adds the block's duration to ``timings[phase]``: where a send's time goes (``digest bench``)."""
        started = perf_counter()
        try:
            yield
        finally:
            self.timings[phase] += perf_counter() - started

    def send(self, number: int, *, progress: SendProgress | None = None, resume: bool = False) -> SendReport:
        started = monotonic()
        if self.settings.held_outcomes is not None:
            folder = self.settings.held_outcomes
            held.ready(folder)
            self.riding_out(lambda: held.record_kept(self.engine, folder))
        issue, counts = self.riding_out(lambda: self.start(number, resume=resume))
        local = self.settings.local
        if local is not None and issue.status == IssueStatus.sending:
            self.riding_out(lambda: waves.catch_up(self.engine, issue.id or 0, local, now=self.clock()))
        unmatched = counts.pop(DeliveryStatus.unmatched.value)
        report = SendReport(issue_number=number, audience=sum(counts.values()), unmatched=unmatched)
        if progress:
            progress.start(report.audience, report.audience - counts["pending"] - counts["sending"])
        self._bodies = {None: self.body(issue)}
        errors_in_a_row = 0
        self._after = 0
        # The next batch is claimed and prepared while the current one is handed over. A prepared batch
        # has reached no one, so the duplicate window stays one batch; on the way out it is released.
        with rare_collections(), ThreadPoolExecutor(1, thread_name_prefix="digest-next-batch") as ahead:
            upcoming: Future[Prepared] | None = ahead.submit(self.prepared, issue)
            try:
                while upcoming is not None:
                    batch, upcoming = upcoming.result(), None
                    if not batch.recipients:
                        # Claimed before the last batch was recorded: its retries may have come back since.
                        batch = self.prepared(issue)
                    if not batch.recipients:
                        break
                    if not self._stopping.is_set():
                        upcoming = ahead.submit(self.prepared, issue)
                    errors_in_a_row = self.deliver(issue, batch, report, errors_in_a_row)
                    if progress:
                        progress.advance(len(batch.recipients))
                    if report.paused or self._stopping.is_set():
                        break
                    self.keep_rate(report, started)
            finally:
                if upcoming is not None:
                    self.give_back(upcoming)
        open_rows = self.riding_out(lambda: ledger.finish(self.engine, issue.id or 0, now=self.clock()))
        report.waiting, report.next_wave = self.riding_out(
            lambda: ledger.waiting(self.engine, issue.id or 0, now=self.clock())
        )
        report.in_flight = open_rows - report.waiting
        report.variants = self.riding_out(lambda: self.variant_counts(issue))
        report.seconds = monotonic() - started
        return report

    def variant_counts(self, issue: Issue) -> list[VariantCounts]:
        with unit_of_work(self.engine) as session:
            return ledger.variant_counts(session, issue.id or 0)

    def give_back(self, upcoming: "Future[Prepared]") -> None:
        """Release the batch prepared ahead, which reached no one. When the database is away (the send
        is stopping because of it) its lease runs out instead: nothing waits for it here."""
        try:
            recipients = upcoming.result().recipients
            self.riding_out(lambda: ledger.release(self.engine, recipients, now=self.clock()))
        except DBAPIError as exc:
            log.warning("could not give back the batch prepared ahead (its lease will run out): %s", exc.orig)

    def start(self, number: int, *, resume: bool) -> tuple[Issue, dict[str, int]]:
        """Begin the send (the ledger's audience, in one snapshot) or join it; the issue and its counts.

        Two senders starting one issue at once: one writes the audience, the other fails to serialize
        and, going again, finds the send started.
        """
        for attempt in range(1, START_ATTEMPTS + 1):
            try:
                with unit_of_work(self.engine) as session:
                    one_snapshot(session)
                    return self.begin(session, number, resume=resume)
            except DBAPIError as exc:
                if not serialization_failure(exc) or attempt == START_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    def begin(self, session: Session, number: int, *, resume: bool) -> tuple[Issue, dict[str, int]]:
        issue = get_issue(session, number)
        unpause(issue, resume=resume)
        now = self.clock()
        starts = self.starts_at(session, issue) if issue.status == IssueStatus.approved else None
        if starts is not None and starts > now:
            raise InvalidState(
                f"issue {number} is scheduled: its send starts at {starts:%Y-%m-%d %H:%M} UTC; "
                f"to send it now, clear its time: `digest approve {number} --now`"
            )

        def audiences(choices: ledger.Choices) -> list[ledger.Audience]:
            return variants.fix(session, self.renderer, issue, choices, now=now)

        local = self.settings.local

        def wave_starts() -> ledger.Waves:
            assert local is not None
            return ledger.Waves(waves.fix(session, issue, local, now=now), local.publisher_zone)

        with self.timed("start"):
            ledger.begin(session, issue, now=now, variants=audiences, waves=wave_starts if local else None)
        counts = delivery_counts(session, issue.id or 0)
        kept = variants.stored(session, issue)
        self._positions = {v.id: v.position for v in kept}
        self._markers = {None: Markers.of(issue.markers)}
        self._markers.update((v.id, Markers.of(v.markers)) for v in kept)
        return issue, counts

    def starts_at(self, session: Session, issue: Issue) -> datetime | None:
        """When the send of an approved ``issue`` may start: at its own time (None: at once); with local
        delivery, when the first zone in use reaches its wall-clock time."""
        if self.settings.local is not None:
            return self.settings.local.starts_at(session, issue)
        return issue.send_at

    def riding_out(self, action: Callable[[], T]) -> T:
        """``action`` (one unit of work), waiting out a database restart of up to ``outage``."""
        return ride_out(self.engine, action, bound=self.settings.outage, pause=self._stopping.wait)

    def prepared(self, issue: Issue) -> "Prepared":
        """The next batch, claimed once the database answers. Each try is the same claim (one claimant
        id): if the connection dropped as the server committed it, the next try takes back its rows."""
        claimed_by = ledger.claimant()
        return self.riding_out(lambda: self.prepare(issue, claimed_by))

    def prepare(self, issue: Issue, claimed_by: str | None = None) -> "Prepared":
        """Claim the next batch and build its envelopes (runs one batch ahead, in its own thread).

        Claims walk forward from the last id claimed; when that finds nothing, one pass from the start
        picks up what came back (retries, leases that ran out) before the send counts as done.
        """
        with self.timed("claim"):
            batch = self.claim_after(issue, self._after, claimed_by)
            if not batch and self._after:
                batch = self.claim_after(issue, 0, claimed_by)
        if batch:
            self._after = batch[-1].delivery_id
        with self.timed("prepare"):
            # Someone who left after the send started is skipped, never mailed.
            going = [r for r in batch if r.state == SubscriberState.active]
            return Prepared(batch, going, [self.envelope(issue, r) for r in going])

    def body(self, issue: Issue) -> SharedBody:
        return SharedBody(
            subject=issue.subject,
            html=issue.html,
            text=issue.text,
            from_=self.settings.from_,
            markers=Markers.of(issue.markers),
        )

    def body_of(self, variant_id: int | None) -> SharedBody:
        """The stored email of one variant, read once per send (``None``: the issue's own)."""
        if variant_id not in self._bodies:
            if len(self._bodies) > 64:  # a variant's deliveries are neighbours: old ones are done
                self._bodies = {None: self._bodies[None]}
            self._bodies[variant_id] = self.riding_out(lambda: self.read_variant(variant_id))
        return self._bodies[variant_id]

    def read_variant(self, variant_id: int | None) -> SharedBody:
        with unit_of_work(self.engine) as session:
            variant = session.get(IssueVariant, variant_id)
            if variant is None:
                raise InvalidState(f"variant {variant_id} of the issue being sent is missing")
            return SharedBody(
                subject=variant.subject,
                html=variant.html,
                text=variant.text,
                from_=self.settings.from_,
                markers=Markers.of(variant.markers),
            )

    def claim_after(self, issue: Issue, after: int, claimed_by: str | None = None) -> list[Recipient]:
        return ledger.claim(
            self.engine,
            issue.id or 0,
            size=self.settings.batch_size,
            lease=self.claim_lease(),
            now=self.clock(),
            after=after,
            claimed_by=claimed_by,
        )

    def claim_lease(self) -> timedelta:
        """How long a claimed batch stays this sender's: ``lease`` to hand it over, plus ``outage``, the
        time it may wait for the database to record what the provider took. Without the second, another
        sender could take a batch whose outcomes this one still holds (riding out a restart, or kept on
        its disk) for a dead sender's, and mail it again."""
        return self.settings.lease + self.settings.outage

    def hand_over(self, batch: "Prepared") -> tuple[list[Recipient], list[Outcome], MailerUnusable | None]:
        """Give the batch's messages to the mailer, one body per variant; return who was handed over with
        their outcomes, or, when the mailer refuses everything (``MailerUnusable``), nothing and the error."""
        groups: dict[int | None, list[int]] = defaultdict(list)
        for index, recipient in enumerate(batch.going):
            groups[recipient.variant_id].append(index)
        parts = [(self.body_of(v), [batch.envelopes[i] for i in indexes]) for v, indexes in groups.items()]
        order = [batch.going[i] for indexes in groups.values() for i in indexes]
        try:
            results = self.mailer.send_batches(parts)
        except MailerUnusable as exc:
            return [], [], exc
        return order, [outcome for result in results for outcome in result], None

    def deliver(self, issue: Issue, batch: "Prepared", report: SendReport, errors_in_a_row: int) -> int:
        """Hand one prepared batch over and record what happened; returns the running count of errors."""
        # The batch was prepared while the previous one went out: whoever left since is skipped too.
        with self.timed("recheck"):
            ids = [r.subscriber_id for r in batch.going]
            left = self.riding_out(lambda: ledger.no_longer_active(self.engine, ids))
        going = [r for r in batch.going if r.subscriber_id not in left]
        envelopes = [
            e for r, e in zip(batch.going, batch.envelopes, strict=True) if r.subscriber_id not in left
        ]
        gone = [r for r in batch.recipients if r.state != SubscriberState.active or r.subscriber_id in left]
        batch = Prepared(batch.recipients, going, envelopes)
        with self.timed("hand over"):
            handed, outcomes, unusable = self.hand_over(batch) if going else ([], [], None)
        if unusable is not None:
            self.riding_out(lambda: ledger.release(self.engine, batch.going, now=self.clock()))
            self.record(gone, [], [], report)
            report.paused = f"the mail backend refuses to send: {unusable}"
            self.pause(issue, report.paused)
            return errors_in_a_row
        self.record(gone, handed, outcomes, report)
        for outcome in outcomes:
            errors_in_a_row = 0 if outcome.ok else errors_in_a_row + 1
        if errors_in_a_row >= self.settings.pause_after_errors:
            last = next(str(o.error) for o in reversed(outcomes) if o.error)
            report.paused = f"{errors_in_a_row} messages in a row failed; the last: {last}"
            self.pause(issue, report.paused)
        return errors_in_a_row

    def pause(self, issue: Issue, reason: str) -> None:
        self.riding_out(lambda: ledger.pause(self.engine, issue.id or 0, reason, now=self.clock()))

    def envelope(self, issue: Issue, recipient: Recipient) -> Envelope:
        """One recipient's envelope: the send's hottest code, run once per recipient."""
        links = self.links_for(recipient)
        markers = self._markers.get(recipient.variant_id) or self.markers_of(issue, recipient.variant_id)
        return Envelope(
            key=f"issue-{issue.number}/delivery-{recipient.delivery_id}",
            to=recipient.email,
            message_id=message_id(
                issue_number=issue.number,
                delivery_id=recipient.delivery_id,
                domain=self.domain,
            ),
            values=markers.values(links),
            headers=list_unsubscribe_headers(
                one_click_url(links.unsubscribe), self.settings.unsubscribe_mailto
            ),
            tags=self.tags(issue, recipient),
        )

    def markers_of(self, issue: Issue, variant_id: int | None) -> Markers:
        """The markers of the render a recipient gets: known since the send started, or (a variant another
        sender added since, for subscribers who joined) read once."""
        markers = self._markers.get(variant_id)
        if markers is None and variant_id is None:
            markers = self._markers[None] = Markers.of(issue.markers)
        if markers is None:
            with unit_of_work(self.engine) as session:
                variant = session.get(IssueVariant, variant_id)
                if variant is None:
                    raise InvalidState(f"variant {variant_id} of the issue being sent is missing")
                markers = self._markers[variant_id] = Markers.of(variant.markers)
        return markers

    def tags(self, issue: Issue, recipient: Recipient) -> dict[str, str]:
        """What the provider keeps with the message (no personal data): for its webhook and its reports."""
        tags = {"issue": str(issue.number), "delivery": str(recipient.delivery_id)}
        if recipient.variant_id in self._positions:
            tags["variant"] = str(self._positions[recipient.variant_id])
        return tags

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
        """Write the batch's outcomes, grouped by what they set (one UPDATE per group, see ledger)."""
        now = self.clock()
        done = (("lease_until", None), ("claimed_by", None), ("updated_at", now))
        groups: dict[tuple[tuple[str, object], ...], list[int]] = defaultdict(list)
        answers: list[events.EventIn] = []  # the receiving server's, about recipients (SMTP)
        answers_per_recipient = self.mailer.server_answers_per_recipient
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
                report.sent += 1
                if recipient.attempts > 1 and answers_per_recipient:  # taken at last: ends a run of blocks
                    answers.append(smtp_answer(recipient, None, "accepted", now))
            else:
                status = status_after_error(recipient, outcome)
                key = (("status", status), ("last_error", str(outcome.error)[:1000]), *done)
                report.failed += status == DeliveryStatus.failed
                if outcome.error is not None and outcome.error.bounce is not None:
                    answers.append(smtp_answer(recipient, outcome.error.bounce, str(outcome.error), now))
            groups[key].append(recipient.delivery_id)
        report.skipped += len(gone)
        with self.timed("record"):
            # The provider has these messages: their outcomes are kept until the database takes them.
            self.record_or_keep(groups, now)
            if answers:
                self.riding_out(lambda: self.record_answers(answers, now))

    def record_or_keep(self, groups: ledger.Changes, now: datetime) -> None:
        """Record the outcomes once the database answers; when it stays away past ``outage``, keep them
        in the held-outcomes folder for the next send and stop with the database's error."""
        try:
            self.riding_out(lambda: ledger.record_groups(self.engine, groups))
        except DBAPIError as exc:
            folder = self.settings.held_outcomes
            if folder is None or not groups:
                raise
            path = held.keep(folder, groups, now=now)
            count = sum(len(ids) for ids in groups.values())
            raise DatabaseError(
                f"database error: {first_line(exc)} (no answer for {self.settings.outage}); the outcomes of "
                f"the batch handed over ({count} deliveries) are kept in {path}: the next send records them"
            ) from exc

    def record_answers(self, answers: list[events.EventIn], now: datetime) -> None:
        """The receiving server's answers about recipients (SMTP), kept and applied as a provider's
        events: whoever is refused for good is not sent the next issue."""
        with unit_of_work(self.engine) as session:
            events.record_answers(session, answers, now=now, blocked_in_a_row=self.settings.blocked_in_a_row)

    def keep_rate(self, report: SendReport, started: float) -> None:
        """Sleep as long as needed to stay under ``rate`` messages per second."""
        if self.settings.rate > 0:
            ahead = report.sent / self.settings.rate - (monotonic() - started)
            if ahead > 0:
                self._stopping.wait(ahead)


_collections_lock = threading.Lock()
_sends_under_way = 0
_threshold_before: tuple[int, int, int] = gc.get_threshold()


@contextmanager
def rare_collections() -> Iterator[None]:
    """Run Python's cyclic garbage collector less often while a send is under way in this process.

    A send makes some twenty short-lived objects per recipient and no reference cycles; at the default
    threshold (700 new objects) the collector ran every few dozen recipients, about a tenth of a
    sender's time. Reference counting still frees everything at once; the collector just looks for
    cycles less often. Sends running in threads of one process share the setting; the last one to
    finish restores it.
    """
    global _sends_under_way, _threshold_before
    with _collections_lock:
        if _sends_under_way == 0:
            _threshold_before = gc.get_threshold()
            gc.set_threshold(RARE_COLLECTIONS, *_threshold_before[1:])
        _sends_under_way += 1
    try:
        yield
    finally:
        with _collections_lock:
            _sends_under_way -= 1
            if _sends_under_way == 0:
                gc.set_threshold(*_threshold_before)


def first_line(exc: DBAPIError) -> str:
    return (
        str(exc.orig or exc).strip().splitlines()[0] if str(exc.orig or exc).strip() else type(exc).__name__
    )


def unpause(issue: Issue, *, resume: bool) -> None:
    if issue.paused_reason is None:
        return
    if not resume:
        raise InvalidState(
            f"the send of issue {issue.number} is paused: {issue.paused_reason}. "
            "Fix the cause, then run `digest send --resume`"
        )
    issue.paused_reason = None
    issue.paused_at = None


def smtp_answer(recipient: Recipient, bounce: str | None, reply: str, now: datetime) -> events.EventIn:
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


def dry_run(engine: Engine, number: int, sender: IssueSender) -> SendReport:
    """Count the audience and fill one recipient's message, sending nothing and writing nothing."""
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
    sample = sender.links_for(Recipient(0, 0, "reader@example.org", SubscriberState.active, "dry-run"))
    Personalizer(issue.html, Markers.of(issue.markers)).fill(sample)
    return SendReport(issue_number=number, audience=int(audience), dry_run=True)


def send_test_copy(
    issue: Issue, address: str, mailer: Mailer, *, from_: str, base_url: str, now: datetime
) -> str:
    """Send ``issue`` to one address with "[TEST]" in the subject: not a delivery, not counted anywhere.

    Its links go to the general unsubscribe and preferences pages, as in the archive.
    """
    links = RecipientLinks(unsubscribe=f"{base_url}/unsubscribe", preferences=f"{base_url}/preferences")
    markers = Markers.of(issue.markers)
    body = SharedBody(
        subject=f"[TEST] {issue.subject}", html=issue.html, text=issue.text, from_=from_, markers=markers
    )
    stamp = f"{now:%Y%m%dT%H%M%S%f}"
    envelope = Envelope(
        key=f"tests/issue-{issue.number}-{stamp}",
        to=address,
        message_id=f"<digest.test.{issue.number}.{stamp}@{domain_of(from_)}>",
        values=markers.values(links),
    )
    [outcome] = mailer.send_batch(body, [envelope])
    if outcome.error is not None:
        raise outcome.error
    return outcome.provider_id or ""
