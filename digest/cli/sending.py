"""``digest send``, ``test-send`` and ``worker``: sending an approved issue, resumable, from one process
or several."""

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from digest.cli.base import (
    BarProgress,
    IssueArg,
    app,
    fail,
    log,
    now,
    ready_parts,
    reports_errors,
    service_parts,
)
from digest.core.topics import label
from digest.db.engine import ride_out, unit_of_work, went_away
from digest.db.models import Issue, IssueStatus
from digest.errors import DatabaseError, InvalidInput, InvalidState, NotFound
from digest.i18n import language
from digest.issues import decisions as issue_service
from digest.issues.queries import (
    awaiting_approval,
    get_issue,
    next_issue_to_send,
    next_scheduled,
    paused_issue,
    sending_issue,
)
from digest.issues.schedule import shown
from digest.sending.copies import dry_run, send_test_copy
from digest.sending.newcomers import add_newcomers
from digest.sending.progress import SendReport
from digest.sending.sender import IssueSender
from digest.subscribers import records as subscriber_service
from digest.wiring import Parts


def describe_send(report: SendReport) -> str:
    if report.dry_run:
        return f"issue {report.issue_number}: dry run, would send to {report.audience} active subscribers"
    line = (
        f"issue {report.issue_number}: {report.sent} sent, {report.failed} failed, {report.skipped} skipped "
        f"of {report.audience} in {report.seconds:.1f}s ({report.rate:.0f}/s)"
    )
    if report.in_flight:
        line += (
            f"; {report.in_flight} still in flight "
            "(another worker, or a crashed run: resumes when its lease expires)"
        )
    if report.waiting and report.next_wave is not None:
        line += f"; {report.waiting} wait for their wave, the next at {report.next_wave:%Y-%m-%d %H:%M} UTC"
    if report.unmatched:
        line += f"; {report.unmatched} got no email (none of the issue's summaries is on their topics)"
    variants = [v for v in report.variants if v.position is not None]
    if len(variants) > 1:
        line += f"\nby variant ({len(variants)}, each rendered once):"
        for v in variants:
            counts = ", ".join(f"{status} {count}" for status, count in sorted(v.counts.items()))
            topics = "; ".join(label(choice) for choice in v.choices[:3]) + (
                "; …" if len(v.choices) > 3 else ""
            )
            line += f"\n  #{v.position}: {v.summaries} summaries, {counts} ({topics})"
    return line


@app.command("send")
@reports_errors
def send_command(
    issue: IssueArg = None,
    dry: Annotated[bool, typer.Option("--dry-run", help="Count and render without sending.")] = False,
    resume: Annotated[
        bool, typer.Option("--resume", help="Go on with a paused send once its cause is fixed.")
    ] = False,
    newcomers: Annotated[
        bool,
        typer.Option("--newcomers", help="Send an issue that went out to those who became active since."),
    ] = False,
) -> None:
    """Send an approved issue, or resume an interrupted send. SIGTERM stops it after the batch in hand."""
    parts = service_parts()
    if newcomers:
        send_to_newcomers(parts, issue)
        return
    with unit_of_work(parts.engine) as session:
        chosen: Issue | None = get_issue(session, issue) if issue is not None else None
        if chosen is None:
            chosen = paused_issue(session) if resume else due_issue(session, parts)
        waiting = awaiting_approval(session) if chosen is None and not resume else None
        later = not_yet(session, parts, chosen) if issue is None and not resume else None
    if later is not None:
        typer.echo(later)
        return
    if waiting is not None:
        raise InvalidState(
            f"nothing to send: issue {waiting.number} is {waiting.status}, not approved; "
            f"approve it first: `digest approve {waiting.number}`"
        )
    if chosen is None:
        typer.echo("nothing to send: no approved issue" + (" and no paused send" if resume else ""))
        return
    with parts.sender() as sender:
        if dry:
            typer.echo(describe_send(dry_run(parts.engine, chosen.number, sender)))
            return
        with stop_on_sigterm(sender), BarProgress() as bar:
            report = sender.send(chosen.number, progress=bar, resume=resume)
    typer.echo(describe_send(report))
    if report.paused:
        raise fail(
            f"the send of issue {report.issue_number} is paused: {report.paused}. "
            "Fix the cause, then run `digest send --resume`"
        )


def send_to_newcomers(parts: Parts, number: int | None) -> None:
    """``digest send N --newcomers``: the issue's deliveries for those who became active since, sent."""
    if number is None:
        raise InvalidInput("say which issue: `digest send ISSUE --newcomers`")
    with unit_of_work(parts.engine) as session:
        added = add_newcomers(session, parts.renderer, get_issue(session, number), now=now())
    if not added:
        typer.echo(f"issue {number}: nobody became active since it went out; nothing to send")
        return
    typer.echo(f"issue {number}: {added} newcomer{'' if added == 1 else 's'} added")
    with parts.sender() as sender, stop_on_sigterm(sender), BarProgress() as bar:
        report = sender.send(number, progress=bar)
    typer.echo(describe_send(report))


def due_issue(session: Session, parts: Parts) -> Issue | None:
    """The issue ``digest send`` takes: with local delivery, one that starts before its own time."""
    local = parts.local_delivery() is not None
    return next_issue_to_send(session, now=None if local else now())


def not_yet(session: Session, parts: Parts, chosen: Issue | None) -> str | None:
    """What to say when the issue to send goes out later (its own time; its first wave), else None."""
    zone, local = parts.settings.timezone, parts.local_delivery()
    if local is not None and chosen is not None and chosen.status == IssueStatus.approved:
        starts = local.starts_at(session, chosen)
        if starts > now():
            first = shown(starts, zone)
            return f"nothing to send now: the first wave of issue {chosen.number} starts at {first}"
    later = next_scheduled(session, now=now()) if chosen is None else None
    if later is not None and later.send_at is not None:
        return f"nothing to send now: issue {later.number} goes out at {shown(later.send_at, zone)}"
    return None


@app.command("test-send")
@reports_errors
def send_test_copy_command(
    issue: IssueArg = None,
    to: Annotated[str, typer.Option("--to", help="The address to send the test to.")] = "",
) -> None:
    """Send an issue to one address, marked as a test: not a delivery, not counted."""
    if not to:
        raise InvalidInput("say where to send the test: --to ADDRESS")
    parts = ready_parts()
    address = subscriber_service.normalise_address(to)
    with unit_of_work(parts.engine) as session:
        chosen = get_issue(session, issue) if issue is not None else issue_service.latest_issue(session)
    if chosen is None:
        raise NotFound("there is no issue yet: run `digest compose`")
    with parts.mailer() as mailer:
        where = send_test_copy(
            chosen,
            address,
            mailer,
            from_=parts.settings.from_,
            base_url=parts.settings.base_url,
            now=now(),
            words=language(parts.settings.language).translations,
        )
    typer.echo(f"sent a test of issue {chosen.number} to {address} ({where})")


@app.command("worker")
@reports_errors
def worker_command(
    poll: Annotated[float, typer.Option(help="Seconds between looks for work when idle.")] = 5.0,
    once: Annotated[bool, typer.Option("--once", help="Work until no send is open, then exit.")] = False,
) -> None:
    """A send worker: takes batches of any open send. Several may run against PostgreSQL; SQLite: one.
    It stays up through a database outage; with --once it exits with the error past DIGEST_DATABASE_OUTAGE."""
    parts = service_parts()
    stopping = threading.Event()
    with parts.sender() as sender, stop_on_sigterm(sender, stopping):
        while not stopping.is_set():
            try:
                worked = work_once(parts, sender, stopping)
            except (DBAPIError, DatabaseError) as exc:
                if once or not database_away(exc):
                    raise
                # Past DIGEST_DATABASE_OUTAGE: what the provider took is kept on disk (the error says where),
                # and a service stays up to record it and go on once the database answers.
                log.error("worker: %s; trying again in %g s", outage_line(exc), poll)
                worked = False
            if not worked and once:
                break
            if not worked:
                stopping.wait(poll)


def work_once(parts: Parts, sender: IssueSender, stopping: threading.Event) -> bool:
    """Send the open send, if there is one (waiting out a short database outage to look); whether it
    handled any delivery (a send whose next wave is still to come has nothing for it until then)."""
    open_send = ride_out(
        parts.engine,
        lambda: open_send_number(parts),
        bound=parts.settings.database_outage,
        pause=stopping.wait,
    )
    if open_send is None:
        return False
    try:
        report = sender.send(open_send)
    except InvalidState:
        # Another worker finished the send between the look and the join: nothing is left for this one.
        if open_send_number(parts) == open_send:
            raise
        return False
    if report.sent + report.failed + report.skipped == 0 and report.waiting:
        return False
    line = describe_send(report)
    log.info("worker: %s", line)
    typer.echo(line)
    return True


def database_away(exc: BaseException) -> bool:
    """Whether ``exc`` (or the error it wraps) says the database cannot be reached."""
    cause = exc if isinstance(exc, DBAPIError) else exc.__cause__
    return isinstance(cause, DBAPIError) and went_away(cause)


def outage_line(exc: BaseException) -> str:
    if isinstance(exc, DBAPIError):
        detail = str(exc.orig or exc).strip()
        return f"database error: {detail.splitlines()[0] if detail else type(exc).__name__}"
    return str(exc)


@contextmanager
def stop_on_sigterm(sender: IssueSender, stopping: threading.Event | None = None) -> Iterator[None]:
    """On SIGTERM, finish and record the batch in hand, then stop (systemd, Kubernetes, Procfile hosts)."""

    def handle(_signum: int, _frame: object) -> None:
        sender.stop()
        if stopping is not None:
            stopping.set()

    previous = signal.signal(signal.SIGTERM, handle)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def open_send_number(parts: Parts) -> int | None:
    """The number of the issue whose send is open, if any."""
    with unit_of_work(parts.engine) as session:
        issue = sending_issue(session)
        return issue.number if issue else None
