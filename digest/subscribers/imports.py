"""``digest subscribers import``: a list moved in from a file, bad rows reported by line, good rows kept.

``subscribers/list_files.py`` reads the file (another service's export or a plain CSV) into rows. Here each
row changes the list, in a transaction of its own:
- a reader who had left the old list (unsubscribed, cleaned, bounced, complained, emails disabled) is
  stored in that state, never active: moving services must not bring back anyone who left;
- with ``--confirmed --consent-source`` (consent proven elsewhere) the others become active, except those
  who never confirmed there; without it they become pending and are sent a confirmation;
- the opt-in time, IP and sign-up source the file gives go into the consent record; a time zone the file
  gives (checked against the IANA list: an unknown one skips the row, named) becomes the reader's;
- the same address twice in the file (any case) counts once; an erased address is refused.
A dry run does all of it inside transactions that are rolled back, and sends nothing.
"""

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session

from digest.core.topics import choice_of, normalise
from digest.core.zones import checked_zone
from digest.db.engine import unit_of_work
from digest.db.models import SubscriberState
from digest.errors import InvalidInput
from digest.subscribers.list_files import Row
from digest.subscribers.records import (
    Consent,
    add,
    address_key,
    existing_or_new,
    is_suppressed,
    normalise_address,
    record_consent,
)
from digest.subscribers.subscriptions import Notice, request_subscription
from digest.subscribers.topics import checked

DUPLICATE = "duplicate in the file"
CONFIRMATION = "pending, confirmation sent"


@dataclass
class ImportReport:
    outcomes: Counter[str] = field(default_factory=Counter)  # rows by what they became
    problems: list[str] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)  # "line N: address -> outcome", for a dry run

    @property
    def added(self) -> int:
        return sum(count for outcome, count in self.outcomes.items() if outcome != DUPLICATE)

    def summary(self, *, dry_run: bool) -> str:
        verb = "would import" if dry_run else "imported"
        kinds = ", ".join(f"{count} {outcome}" for outcome, count in sorted(self.outcomes.items()))
        return f"{verb} {self.added} address(es) ({kinds or 'none'}); {len(self.problems)} row(s) skipped"


@dataclass(frozen=True)
class ImportPlan:
    """What the operator said about the file."""

    service: str
    file_name: str
    consent_source: str | None
    now: datetime
    resend_window: timedelta
    topics_on_offer: Sequence[str]
    dry_run: bool = False


class _DryRun(Exception):
    """Raised at the end of a dry run's row: its transaction rolls back."""


def import_rows(engine: Engine, rows: Iterable[Row], plan: ImportPlan) -> ImportReport:
    """Import ``rows``, each in a transaction of its own (rolled back in a dry run)."""
    report = ImportReport()
    seen: set[str] = set()
    for row in rows:
        try:
            key = address_key(normalise_address(row.address))
            if key in seen:
                outcome, notice = DUPLICATE, None
            else:
                seen.add(key)
                outcome, notice = one_row(engine, row, plan)
        except InvalidInput as exc:
            report.problems.append(f"line {row.line}: {exc}")
            continue
        report.outcomes[outcome] += 1
        report.lines.append(f"line {row.line}: {row.address.strip()} -> {outcome}")
        if notice is not None:
            report.notices.append(notice)
    return report


def one_row(engine: Engine, row: Row, plan: ImportPlan) -> tuple[str, Notice | None]:
    outcome: tuple[str, Notice | None] = ("", None)
    try:
        with unit_of_work(engine) as session:
            outcome = apply(session, row, plan)
            if plan.dry_run:
                raise _DryRun
    except _DryRun:
        return outcome[0], None
    return outcome


def apply(session: Session, row: Row, plan: ImportPlan) -> tuple[str, Notice | None]:
    """What ``row`` does to the list; the outcome in words and the email it calls for, if any."""
    email = normalise_address(row.address)
    if is_suppressed(session, email):
        # Erased at its owner's request: an operator's list must not store or mail it again.
        raise InvalidInput(f"{email} was erased at its owner's request; not imported")
    topics = topics_of(row, plan.topics_on_offer)
    zone = checked_zone(row.timezone)
    outcome = changed(session, email, row, plan, topics)
    if zone is not None:
        existing_or_new(session, email, now=plan.now).timezone = zone
    return outcome


def changed(
    session: Session, email: str, row: Row, plan: ImportPlan, topics: Sequence[str]
) -> tuple[str, Notice | None]:
    consent = Consent(form=consent_form(row, plan), ip=row.ip, at=row.opted_in_at)
    if row.left is not None:
        return leave(session, email, row.left, consent, plan.now), None
    if plan.consent_source and not row.unconfirmed:
        subscriber = add(session, email, confirmed=True, consent=consent, now=plan.now, topics=topics)
        return subscriber.state, None
    notice = request_subscription(
        session, email, consent, now=plan.now, resend_window=plan.resend_window, topics=topics
    )
    subscriber = existing_or_new(session, email, now=plan.now)
    if subscriber.state == SubscriberState.pending:
        return CONFIRMATION if notice is not None else "pending", notice
    return f"already {subscriber.state}", notice


def leave(session: Session, email: str, state: SubscriberState, consent: Consent, now: datetime) -> str:
    """Store a reader who left the old list in the state they left in; a complaint here stays."""
    subscriber = existing_or_new(session, email, now=now)
    if subscriber.state == SubscriberState.complained:
        return "already complained"
    if subscriber.consent_at is None:
        record_consent(subscriber, consent, now=now)
    subscriber.state = state
    subscriber.unsubscribed_at = now if state == SubscriberState.unsubscribed else subscriber.unsubscribed_at
    subscriber.updated_at = now
    session.add(subscriber)
    session.flush()
    return str(state)


def topics_of(row: Row, on_offer: Sequence[str]) -> tuple[str, ...]:
    """The csv format's topics, each of which must be on offer; of a service's tags, those that name a
    topic on offer (the others are the old service's own labels)."""
    if row.topics:
        return checked(row.topics.split(";"), allowed=on_offer)
    offered = set(choice_of(on_offer))
    return checked([tag for tag in row.tags if normalise(tag) in offered], allowed=on_offer)


def consent_form(row: Row, plan: ImportPlan) -> str:
    where = plan.consent_source or plan.file_name
    form = f"import: {where}" if plan.service == "csv" else f"import from {plan.service}: {where}"
    if row.source:
        form += f" (source: {row.source})"
    return form[:200]
