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

import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from time import monotonic, perf_counter
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from digest.core.clock import utc_now
from digest.core.events import EventIn
from digest.db.engine import one_snapshot, ride_out, serialization_failure, unit_of_work
from digest.db.models import DeliveryStatus, Issue, IssueStatus, SubscriberState
from digest.errors import DatabaseError, InvalidState, MailerUnusable
from digest.issues.queries import get_issue
from digest.mail import Mailer, Outcome
from digest.rendering import Renderer
from digest.sending import claims, held, ledger, variants, waves
from digest.sending.collector import rare_collections
from digest.sending.counts import VariantCounts, delivery_counts, variant_counts
from digest.sending.ledger import Recipient
from digest.sending.messages import Messages
from digest.sending.outcomes import grouped as outcomes_of
from digest.sending.progress import Prepared, SendProgress, SendReport
from digest.subscribers import events
from digest.tokens import ReaderTags, Tokens

log = logging.getLogger("digest.sending")

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
    readers: ReaderTags | None = None  # DIGEST_TRACKING=individual: signs each reader's tag


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
        self.messages = Messages(
            engine,
            tokens,
            from_=settings.from_,
            base_url=settings.base_url,
            unsubscribe_mailto=settings.unsubscribe_mailto,
            ride_out=self.riding_out,
            readers=settings.readers,
        )
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
        self.messages.start(issue)
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
            return variant_counts(session, issue.id or 0)

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
        self.messages.know(issue, variants.stored(session, issue))
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
        claimed_by = claims.claimant()
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
            return Prepared(batch, going, [self.messages.envelope(issue, r) for r in going])

    def claim_after(self, issue: Issue, after: int, claimed_by: str | None = None) -> list[Recipient]:
        return claims.claim(
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
        parts = [
            (self.messages.body_of(v), [batch.envelopes[i] for i in indexes]) for v, indexes in groups.items()
        ]
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

    def record(
        self, gone: list[Recipient], going: list[Recipient], outcomes: Sequence[Outcome], report: SendReport
    ) -> None:
        """Write the batch's outcomes, grouped by what they set (one UPDATE per group, see ledger)."""
        now = self.clock()
        written = outcomes_of(
            gone, going, outcomes, now=now, answers_per_recipient=self.mailer.server_answers_per_recipient
        )
        report.sent += written.sent
        report.failed += written.failed
        report.skipped += written.skipped
        groups, answers = written.groups, written.answers
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

    def record_answers(self, answers: list[EventIn], now: datetime) -> None:
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
