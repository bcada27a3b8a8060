"""``digest subscribers ...`` and ``digest topics``: the list, from the shell."""

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from digest.cli.base import (
    BarProgress,
    app,
    fail,
    now,
    ready_parts,
    reports_errors,
    subscribers_app,
    topics_on_offer,
)
from digest.core.durations import format_duration
from digest.core.topics import EVERYTHING, label
from digest.core.zones import checked_zone
from digest.db.engine import unit_of_work
from digest.db.models import SubscriberState
from digest.errors import InvalidInput
from digest.subscribers import exports, subscriptions
from digest.subscribers import records as subscriber_service
from digest.subscribers import topics as topic_service
from digest.subscribers.imports import ImportPlan, import_rows
from digest.subscribers.list_files import FORMATS, rows_in
from digest.wiring import Parts


@subscribers_app.command("add")
@reports_errors
def subscribers_add(
    email: Annotated[str, typer.Argument(help="The address to add.")],
    confirmed: Annotated[
        bool, typer.Option("--confirmed", help="Add as active: consent was proven elsewhere.")
    ] = False,
    topic: Annotated[
        list[str] | None,
        typer.Option("--topic", help="A topic on offer they get; repeat for more (none: everything)."),
    ] = None,
    timezone: Annotated[
        str | None,
        typer.Option("--timezone", help="Their IANA time zone, e.g. Asia/Kathmandu (none: DIGEST_TIMEZONE)."),
    ] = None,
) -> None:
    """Add a subscriber: pending, with a confirmation email, or, with --confirmed, active.

    An active subscriber keeps their state and topics: they change topics from their preferences page.
    --timezone sets the zone of anyone added or already there.
    """
    zone = checked_zone(timezone)
    parts = ready_parts()
    choice = topic_service.checked(topic or [], allowed=topics_on_offer(parts))
    consent = subscriber_service.Consent(form="cli --confirmed" if confirmed else "cli")
    moment = now()
    with unit_of_work(parts.engine) as session:
        subscriber = subscriber_service.add(
            session, email, confirmed=confirmed, consent=consent, now=moment, topics=choice, timezone=zone
        )
        chosen = topic_service.chosen(subscriber)
        pending = subscriber.state == SubscriberState.pending
        window = parts.settings.confirm_resend_window
        due = (
            subscriptions.confirmation_due(subscriber, now=moment, resend_window=window) if pending else None
        )
        zone_note = f"; time zone: {subscriber.timezone}" if subscriber.timezone else ""
    typer.echo(f"{subscriber.email}: {subscriber.state}; topics: {label(chosen)}{zone_note}")
    if pending:
        typer.echo(send_confirmation(parts, due, subscriber.email))
    if topic and chosen != choice:
        typer.echo(
            f"note: {subscriber.email} was already subscribed and keeps the topics they chose "
            "(they change them on their preferences page)",
            err=True,
        )


def send_confirmation(parts: Parts, due: subscriptions.Notice | None, email: str) -> str:
    """Send a pending subscriber the confirmation ``due`` (after the commit, as a sign-up on the web does)
    and say so; none is due when one went within the resend window."""
    if due is None:
        window = format_duration(parts.settings.confirm_resend_window)
        return f"a confirmation went to {email} less than {window} ago: not sent again"
    parts.notice_sender().send(due)
    return f"sent a confirmation to {email}: active once they follow its link"


@subscribers_app.command("topics")
@reports_errors
def subscribers_topics(
    email: Annotated[str, typer.Argument(help="The subscriber's address.")],
    topic: Annotated[
        list[str] | None,
        typer.Option("--topic", help="Set their topics to these (repeat for more); without: show them."),
    ] = None,
    everything: Annotated[bool, typer.Option("--everything", help="Set them to get every summary.")] = False,
) -> None:
    """Show or change one subscriber's topics, at their request (it is theirs to choose)."""
    if topic and everything:
        raise fail("give either --topic or --everything, not both")
    parts = ready_parts()
    with unit_of_work(parts.engine) as session:
        subscriber = subscriber_service.get(session, email)
        if topic or everything:
            allowed = [*topics_on_offer(parts), *topic_service.chosen(subscriber)]
            topic_service.choose(subscriber, topic or [], allowed=allowed)
            subscriber.updated_at = now()
            session.add(subscriber)
        typer.echo(f"{subscriber.email}: topics: {label(topic_service.chosen(subscriber))}")


@subscribers_app.command("list")
@reports_errors
def subscribers_list(
    state: Annotated[str | None, typer.Option("--state", help="Only subscribers in this state.")] = None,
) -> None:
    """Every subscriber with their state and topics, tab-separated."""
    parts = ready_parts()
    if state is not None and state not in {s.value for s in SubscriberState}:
        raise InvalidInput(f"unknown state {state!r}")
    with unit_of_work(parts.engine) as session:
        for subscriber in subscriber_service.listing(session, state=state):
            topics = label(topic_service.chosen(subscriber))
            typer.echo(f"{subscriber.email}\t{subscriber.state}\t{topics}")


@subscribers_app.command("import")
@reports_errors
def subscribers_import(
    file: Annotated[
        Path,
        typer.Argument(
            help="Another service's export (Mailchimp, Substack, Buttondown, listmonk, Ghost), or a CSV with "
            "an 'email' column and an optional 'topics' column (names separated by ';'), or addresses in "
            "the first column. Comma, semicolon or tab; UTF-8 or UTF-16."
        ),
    ],
    service: Annotated[
        str | None,
        typer.Option(
            "--from", help=f"The file's format: {', '.join(FORMATS)} (default: told by its header)."
        ),
    ] = None,
    confirmed: Annotated[
        bool, typer.Option("--confirmed", help="Add as active: consent was given elsewhere.")
    ] = False,
    consent_source: Annotated[
        str | None,
        typer.Option("--consent-source", help="Where that consent was given (required with --confirmed)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what each row would become; change and send nothing.")
    ] = False,
) -> None:
    """Import a list: readers who left the old list stay out; the others pending with a confirmation
    email, or active with --confirmed --consent-source."""
    if confirmed != bool(consent_source):
        raise InvalidInput("--confirmed and --consent-source go together: say where the consent was given")
    parts = ready_parts()
    kind, rows = rows_in(file, service)
    plan = ImportPlan(
        kind,
        file.name,
        consent_source,
        now=now(),
        resend_window=parts.settings.confirm_resend_window,
        topics_on_offer=topics_on_offer(parts),
        dry_run=dry_run,
    )
    with BarProgress("importing") as bar:
        report = import_rows(parts.engine, bar.over(rows), plan)
    for problem in report.problems:
        typer.echo(f"skipped {problem}", err=True)
    if dry_run:
        typer.echo("\n".join(report.lines))
    else:
        sender = parts.notice_sender()
        with BarProgress("sending confirmations") as bar:
            for notice in bar.over(report.notices):
                sender.send(notice)
    typer.echo(f"{kind} file: {report.summary(dry_run=dry_run)}")


@subscribers_app.command("export")
@reports_errors
def subscribers_export(
    email: Annotated[str | None, typer.Argument(help="The subscriber's address.")] = None,
    everyone: Annotated[bool, typer.Option("--all", help="Every subscriber, one per line or row.")] = False,
    form: Annotated[str, typer.Option("--format", help="With --all: csv or jsonl.")] = "jsonl",
) -> None:
    """Everything kept about a subscriber, as JSON (what the preferences page offers); with --all, the
    whole list (state, topics, consent record and dates), streamed."""
    if everyone == (email is not None):
        raise InvalidInput("give one address, or --all for the whole list")
    parts = ready_parts()
    if email is None:
        export_list(parts, form)
        return
    with unit_of_work(parts.engine) as session:
        subscriber = subscriber_service.get(session, email)
        typer.echo(json.dumps(subscriptions.export(session, subscriber), indent=2, ensure_ascii=False))


def export_list(parts: Parts, form: str) -> None:
    writers = {"csv": exports.write_csv, "jsonl": exports.write_jsonl}
    if form not in writers:
        raise InvalidInput(f"unknown export format {form!r}: csv or jsonl")
    with unit_of_work(parts.engine) as session:
        writers[form](exports.every_subscriber(session), sys.stdout)


@subscribers_app.command("erase")
@reports_errors
def subscribers_erase(email: Annotated[str, typer.Argument(help="The subscriber's address.")]) -> None:
    """Remove a subscriber's personal data, keeping a hashed suppression entry."""
    parts = ready_parts()
    with unit_of_work(parts.engine) as session:
        subscriber = subscriber_service.get(session, email)
        subscriptions.erase(session, subscriber, now=now())
    typer.echo(f"erased {email}; it will not be mailed again unless it signs up and confirms")


@app.command("topics")
@reports_errors
def topics_command() -> None:
    """The topics on offer, with how many active subscribers chose each and how many take everything."""
    parts = ready_parts()
    on_offer = topics_on_offer(parts)
    with unit_of_work(parts.engine) as session:
        per_topic = topic_service.subscribers_per_topic(session)
        everything = topic_service.active_choices(session).get(EVERYTHING, 0)
    if not on_offer:
        typer.echo("no topics on offer: set DIGEST_TOPICS, or ingest summaries that have topics")
    # A topic some still have chosen may have dropped off the offer; they keep getting it.
    names = sorted({*on_offer, *per_topic})
    width = max(map(len, [*names, "everything", "topic"]))
    typer.echo(f"{'topic':<{width}}  active subscribers")
    for name in names:
        note = "" if name in on_offer else "  (no longer on offer)"
        typer.echo(f"{name:<{width}}  {per_topic.get(name, 0):>18}{note}")
    typer.echo(f"{'everything':<{width}}  {everything:>18}  (chose no topic)")
