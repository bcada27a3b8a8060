"""The ``digest`` command line (Typer). Each command wires the parts it needs and calls one service.

User mistakes and unreachable services end with one line on stderr and exit code 1, never a traceback.
"""

import functools
import json
import logging
import os
import signal
import socket
import sys
import threading
import webbrowser
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy.exc import IntegrityError, OperationalError

from digest.core.clock import utc_now
from digest.core.durations import format_duration
from digest.core.schedule import cron_trigger
from digest.core.topics import EVERYTHING, label
from digest.db import engine as db
from digest.db.engine import unit_of_work
from digest.db.models import Issue, IssueStatus, SubscriberState
from digest.errors import DigestError, InvalidInput, InvalidState, NotFound
from digest.issues import decisions as issue_service
from digest.issues.compose import compose, too_old_now
from digest.issues.queries import (
    awaiting_approval,
    get_issue,
    next_issue_to_send,
    paused_issue,
    sending_issue,
)
from digest.logs import configure_logging
from digest.ops import runs
from digest.ops.cycle import CyclePlan, ingest_recorded, run_cycle
from digest.ops.demo import run_demo
from digest.ops.status import describe as describe_status
from digest.ops.status import status
from digest.rendering.checks import check_email
from digest.scheduler.leader import leadership_for
from digest.scheduler.runner import SchedulerProcess
from digest.sending import report as variant_report
from digest.sending.sender import IssueSender, SendReport, dry_run, send_test_copy
from digest.sources import ReadInFull
from digest.subscribers import exports, subscriptions
from digest.subscribers import records as subscriber_service
from digest.subscribers import topics as topic_service
from digest.subscribers.imports import ImportPlan, import_rows
from digest.subscribers.list_files import FORMATS, rows_in
from digest.wiring import Parts

log = logging.getLogger("digest")

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

app = typer.Typer(help="digest: a weekly email digest of clinical research summaries.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
subscribers_app = typer.Typer(help="Manage subscribers.", no_args_is_help=True)
editors_app = typer.Typer(help="Editors (DIGEST_EDITORS) and their API tokens.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(subscribers_app, name="subscribers")
app.add_typer(editors_app, name="editors")

IssueArg = Annotated[int | None, typer.Argument(help="Issue number (default: the latest that fits).")]


_opened: list[Parts] = []
_undo: list[Callable[[], None]] = []


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn digest's errors into one line on stderr and exit code 1; close what the command opened."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except DigestError as exc:
            raise fail(str(exc)) from exc
        except OperationalError as exc:
            raise fail(
                f"database error: {str(exc.orig).strip().splitlines()[0] if exc.orig else exc}"
            ) from exc
        except IntegrityError as exc:
            raise fail(
                f"another process changed the same data at once; run the command again ({exc.orig})"
            ) from exc
        finally:
            while _opened:
                _opened.pop().close()
            while _undo:
                _undo.pop()()

    return wrapper


def fail(message: str) -> typer.Exit:
    """Print ``message`` as the one-line reason and return the exit to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


def now() -> datetime:
    return utc_now()


def open_parts() -> Parts:
    parts = Parts.from_environment()
    _opened.append(parts)
    return parts


def ready_parts() -> Parts:
    """Settings read and checked, and the database migrated to the current schema."""
    parts = open_parts()
    db.require_current_schema(parts.engine)
    return parts


def service_parts() -> Parts:
    """Ready parts for a long-running command, with logging set up (``DIGEST_LOG_FORMAT``)."""
    parts = ready_parts()
    _undo.append(configure_logging(parts.settings.log_format))
    return parts


def sender_for(parts: Parts) -> IssueSender:
    return parts.sender()


class BarProgress:
    """A progress bar (rich) for what takes more than a moment: a send, an import. It is drawn on stderr
    when that is a terminal, and left out of pipes and logs."""

    def __init__(self, doing: str = "sending") -> None:
        console = Console(stderr=True)
        columns = (TextColumn(doing), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        self._bar = Progress(*columns, console=console, transient=True, disable=not console.is_terminal)
        self._task = self._bar.add_task(doing, total=None)

    def __enter__(self) -> "BarProgress":
        self._bar.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._bar.stop()

    def start(self, total: int, done: int) -> None:
        self._bar.update(self._task, total=total, completed=done)

    def advance(self, count: int) -> None:
        self._bar.advance(self._task, count)

    def over(self, items: Sequence[T]) -> Iterator[T]:
        """``items`` one by one, the bar moving past each once it is done."""
        self.start(len(items), 0)
        for item in items:
            yield item
            self.advance(1)


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


@app.command("demo")
@reports_errors
def demo_command() -> None:
    """Create the database, load samples and three subscribers, compose issue 1 and send it to the outbox."""
    parts = open_parts()
    parts.settings.email_backend = "outbox"  # the demo always writes files, whatever is configured
    settings = parts.settings
    result = run_demo(
        parts.engine,
        parts.renderer,
        sender_for(parts),
        parts.compose_rules(),
        outbox=settings.outbox_dir,
        base_url=settings.base_url,
        now=now(),
    )
    for line in result.lines:
        typer.echo(line)


@db_app.command("upgrade")
@reports_errors
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Apply database migrations (Alembic)."""
    parts = open_parts()
    db.upgrade(parts.engine, revision)
    typer.echo(f"database at {parts.engine.url.render_as_string(hide_password=True)} is up to date")


@app.command("ingest")
@reports_errors
def ingest_command(
    refetch: Annotated[
        bool,
        typer.Option("--refetch", help="Read every feed in full, ignoring its stored ETag/Last-Modified."),
    ] = False,
) -> None:
    """Gather new summaries from the configured sources (DIGEST_SOURCES), with a line per source."""
    parts = ready_parts()
    moment = now()
    sources = parts.sources(now=moment)
    if refetch:
        sources = [ReadInFull(source) for source in sources]
    reports = ingest_recorded(parts.engine, sources, parts.renderer, now=moment)
    for report in reports:
        typer.echo(report.line)
        for rejection in report.rejected:
            typer.echo(f"  rejected: {rejection}", err=True)
    if all(report.error for report in reports):
        raise fail("no source could be read")


@app.command("compose")
@reports_errors
def compose_command() -> None:
    """Draft the next issue from the summaries no issue holds yet; name those skipped for age."""
    parts = ready_parts()
    moment, rules = now(), parts.compose_rules()
    with unit_of_work(parts.engine) as session:
        too_old = too_old_now(session, rules, now=moment)  # before compose: it asks "since the last"
        issue = compose(session, parts.renderer, rules, now=moment)
        if issue is None:
            typer.echo("nothing new: no summary is waiting for an issue; no issue composed")
        else:
            typer.echo(f"composed issue {issue.number} ({issue.status}): {issue.subject}")
        for line in too_old.lines():
            typer.echo(line)


@app.command("preview")
@reports_errors
def preview_command(
    issue: IssueArg = None,
    text: Annotated[bool, typer.Option("--text", help="The plain-text part instead of the HTML.")] = False,
    out: Annotated[Path | None, typer.Option("--out", help="Write to this file instead of stdout.")] = None,
    open_: Annotated[bool, typer.Option("--open", help="Open the preview in a browser.")] = False,
    check: Annotated[
        bool,
        typer.Option("--check", help="Also print the warnings an editor sees before approving (stderr)."),
    ] = False,
    variant: Annotated[
        str | None,
        typer.Option("--variant", help="One variant, by its key (summary ids, as `digest variants` lists)."),
    ] = None,
) -> None:
    """Write an issue's HTML (or text) as subscribers will see it."""
    parts = ready_parts()
    with unit_of_work(parts.engine) as session:
        chosen = get_issue(session, issue) if issue is not None else issue_service.latest_issue(session)
        if chosen is None:
            raise NotFound("there is no issue yet: run `digest compose`")
        name, html, plain = f"issue-{chosen.number}", chosen.html, chosen.text
        if variant is not None:
            row, email = variant_report.variant_email(session, parts.renderer, chosen, variant)
            name, html, plain = f"{name}-variant-{row.number}", email.html, email.text
        document = issue_service.filled_for_preview(plain if text else html, base_url=parts.settings.base_url)
        if check:
            html = issue_service.filled_for_preview(html, base_url=parts.settings.base_url)
            warnings = check_email(html, postal_address=parts.settings.postal_address)
            for warning in warnings:
                typer.echo(f"warning: {warning.kind}: {warning.message}", err=True)
            typer.echo(f"{len(warnings)} warning{'' if len(warnings) == 1 else 's'}", err=True)
    if open_ and out is None:
        out = Path(f"{name}.{'txt' if text else 'html'}")
    if out is None:
        sys.stdout.write(document)
        return
    out.write_text(document, encoding="utf-8")
    typer.echo(f"wrote {out}")
    if open_:
        webbrowser.open(out.resolve().as_uri())


@app.command("variants")
@reports_errors
def variants_command(issue: Annotated[int, typer.Argument(help="Issue number.")]) -> None:
    """An issue's variants: what a send started now would produce, or, once it started, what it did."""
    parts = ready_parts()
    with unit_of_work(parts.engine) as session:
        found = variant_report.report(session, get_issue(session, issue))
    for line in variant_lines(found):
        typer.echo(line)


def variant_lines(found: variant_report.VariantReport) -> list[str]:
    """``digest variants``'s output: a line on where the variants come from, then a table of them."""
    if found.cancelled:
        return [f"issue {found.number} was cancelled: it has no variants"]
    if found.started:
        lines = [f"issue {found.number} ({found.status}): the variants fixed when its send started"]
    else:
        lines = [f"issue {found.number} ({found.status}): the variants a send started now would produce"]
    if found.one_for_all:
        lines.append("no subscriber has chosen topics: one variant, the whole issue, for everyone")
    elif not found.variants and not found.unmatched and found.started:
        lines.append("nobody was in this send's audience")
    elif not found.variants and not found.unmatched:
        lines.append("no active subscribers: a send started now would email nobody")
    rows = [["variant", "subscribers", "summaries", "deliveries", "topic choices", "key"]]
    for row in found.variants:
        deliveries = ", ".join(f"{status} {count}" for status, count in row.deliveries)
        counts = [str(row.number), str(row.subscribers), str(len(row.titles))]
        rows.append([*counts, deliveries, "; ".join(row.labels), row.key])
    if not found.started:  # nothing delivered yet: no such column
        rows = [[*cells[:3], *cells[4:]] for cells in rows]
    if found.variants:
        lines += aligned(rows)
    if found.unmatched:
        choices = f"; their choices: {'; '.join(found.unmatched_labels)}" if found.unmatched_labels else ""
        lines.append(
            f"{found.unmatched} subscriber{'' if found.unmatched == 1 else 's'} chose topics none of this"
            f" issue's summaries carries: they get no email this week{choices}"
        )
    return lines


def aligned(rows: list[list[str]]) -> list[str]:
    """``rows`` as lines of left-aligned columns two spaces apart."""
    widths = [max(len(cells[column]) for cells in rows) for column in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()
        for cells in rows
    ]


def decision_command(decision: IssueStatus) -> Callable[[int], None]:
    @reports_errors
    def command(issue: Annotated[int, typer.Argument(help="Issue number.")]) -> None:
        parts = ready_parts()
        with unit_of_work(parts.engine) as session:
            decided = issue_service.decide(session, issue, decision, by="cli", now=now())
        typer.echo(f"issue {decided.number} is {decided.status}")

    return command


app.command("approve", help="Approve an issue for sending.")(decision_command(IssueStatus.approved))
app.command("hold", help="Hold an issue: it is not sent until approved again.")(
    decision_command(IssueStatus.held)
)
app.command("cancel", help="Cancel an issue; its summaries go back to the pool.")(
    decision_command(IssueStatus.cancelled)
)


@app.command("send")
@reports_errors
def send_command(
    issue: IssueArg = None,
    dry: Annotated[bool, typer.Option("--dry-run", help="Count and render without sending.")] = False,
    resume: Annotated[
        bool, typer.Option("--resume", help="Go on with a paused send once its cause is fixed.")
    ] = False,
) -> None:
    """Send an approved issue, or resume an interrupted send. SIGTERM stops it after the batch in hand."""
    parts = service_parts()
    with unit_of_work(parts.engine) as session:
        chosen: Issue | None = get_issue(session, issue) if issue is not None else None
        if chosen is None:
            chosen = paused_issue(session) if resume else next_issue_to_send(session)
        waiting = awaiting_approval(session) if chosen is None and not resume else None
    if waiting is not None:
        raise InvalidState(
            f"nothing to send: issue {waiting.number} is {waiting.status}, not approved; "
            f"approve it first: `digest approve {waiting.number}`"
        )
    if chosen is None:
        typer.echo("nothing to send: no approved issue" + (" and no paused send" if resume else ""))
        return
    sender = sender_for(parts)
    if dry:
        typer.echo(describe_send(dry_run(parts.engine, chosen.number, sender)))
        return
    try:
        with stop_on_sigterm(sender), BarProgress() as bar:
            report = sender.send(chosen.number, progress=bar, resume=resume)
    finally:
        sender.mailer.close()
    typer.echo(describe_send(report))
    if report.paused:
        raise fail(
            f"the send of issue {report.issue_number} is paused: {report.paused}. "
            "Fix the cause, then run `digest send --resume`"
        )


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
    mailer = parts.mailer()
    try:
        where = send_test_copy(
            chosen, address, mailer, from_=parts.settings.from_, base_url=parts.settings.base_url, now=now()
        )
    finally:
        mailer.close()
    typer.echo(f"sent a test of issue {chosen.number} to {address} ({where})")


@app.command("worker")
@reports_errors
def worker_command(
    poll: Annotated[float, typer.Option(help="Seconds between looks for work when idle.")] = 5.0,
    once: Annotated[bool, typer.Option("--once", help="Work until no send is open, then exit.")] = False,
) -> None:
    """A send worker: takes batches of any open send. Several may run against PostgreSQL; SQLite: one."""
    parts = service_parts()
    sender = sender_for(parts)
    stopping = threading.Event()
    try:
        with stop_on_sigterm(sender, stopping):
            while not stopping.is_set():
                with unit_of_work(parts.engine) as session:
                    open_send = sending_issue(session)
                if open_send is not None:
                    line = describe_send(sender.send(open_send.number))
                    log.info("worker: %s", line)
                    typer.echo(line)
                elif once:
                    break
                else:
                    stopping.wait(poll)
    finally:
        sender.mailer.close()


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


@app.command("run")
@reports_errors
def run_command() -> None:
    """One full cycle of the scheduled job: ingest, compose when due, send when approved and due."""
    parts = service_parts()
    settings = parts.settings
    moment = now()
    plan = CyclePlan(
        cron_trigger(settings.schedule, settings.timezone), settings.review_window, parts.compose_rules()
    )
    sender = sender_for(parts)
    stopping = threading.Event()
    try:
        with stop_on_sigterm(sender, stopping), runs.recorded(parts.engine, runs.CYCLE, clock=now) as note:
            sources = parts.sources(now=moment)
            report = run_cycle(
                parts.engine, sources, parts.renderer, sender, plan, now=moment, should_stop=stopping.is_set
            )
            note.detail = report.summary
            if report.stopped:
                note.outcome = "interrupted"
    finally:
        sender.mailer.close()
    for source in report.ingested:
        typer.echo(source.line)
    if report.period is None:
        typer.echo("compose: no scheduled time in the last week")
    elif report.composed:
        typer.echo(f"compose: issue {report.composed} for the period of {report.period}")
    else:
        typer.echo(f"compose: nothing to compose for the period of {report.period}")
    for line in report.too_old.lines() if report.too_old else []:
        typer.echo(line)
    for number in report.approved:
        typer.echo(f"approved issue {number} (review window over)")
    for sent in report.sent:
        typer.echo(describe_send(sent))


@app.command("scheduler")
@reports_errors
def scheduler_command() -> None:
    """The scheduler process: ingest, compose and send on DIGEST_SCHEDULE. One leads, others stand by.

    SIGTERM (or Ctrl-C) finishes the batch in hand, records it and exits.
    """
    parts = service_parts()
    process = SchedulerProcess(parts, leadership_for(parts.settings.database_url))

    def handle(_signum: int, _frame: object) -> None:
        process.stop()

    previous = {signum: signal.signal(signum, handle) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        lost = process.run()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if lost:
        raise fail("lost the lead (the database connection holding it broke); start again to stand by")


@app.command("status")
@reports_errors
def status_command() -> None:
    """Subscribers by state, the last issue and send, the scheduler and its next runs."""
    parts = ready_parts()
    settings = parts.settings
    moment = now()
    with unit_of_work(parts.engine) as session:
        names = [source.name for source in parts.sources(now=moment)]
        trigger = cron_trigger(settings.schedule, settings.timezone)
        report = status(session, trigger, now=moment, rules=parts.compose_rules(), sources=names)
    for line in describe_status(report, now=moment, schedule=settings.schedule, timezone=settings.timezone):
        typer.echo(line)


@app.command("serve")
@reports_errors
def serve_command(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    proxy_headers: Annotated[
        bool, typer.Option(help="Trust X-Forwarded-For from --forwarded-allow-ips (behind a proxy).")
    ] = False,
    forwarded_allow_ips: Annotated[
        str, typer.Option(help="Proxies whose X-Forwarded-* headers count.")
    ] = "127.0.0.1",
) -> None:
    """The web app: subscribe, confirm, unsubscribe, preferences and the archive."""
    import uvicorn

    from digest.web.app import create_app

    parts = service_parts()
    listening = listen(
        host, port
    )  # before the app starts: a port in use is one line, not a startup and shutdown
    config = uvicorn.Config(
        create_app(parts),
        log_config=None,  # uvicorn's records go through digest's logging (DIGEST_LOG_FORMAT)
        host=host,
        port=port,
        proxy_headers=proxy_headers,
        forwarded_allow_ips=forwarded_allow_ips,
        server_header=False,
    )
    with listening:
        log.info("serving on http://%s:%d (Ctrl-C to stop)", f"[{host}]" if ":" in host else host, port)
        uvicorn.Server(config).run(sockets=[listening])


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` (as uvicorn binds one), or a one-line error saying why not."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, backlog=2048)
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise InvalidInput(f"cannot listen on {host}:{port}: {reason}") from exc


def topics_on_offer(parts: Parts) -> list[str]:
    """The topics subscribers can choose (DIGEST_TOPICS and those of recent summaries)."""
    with unit_of_work(parts.engine) as session:
        return topic_service.offered(
            session,
            configured=parts.settings.topic_list,
            lookback=parts.settings.topics_lookback,
            now=now(),
        )


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
) -> None:
    """Add a subscriber: pending, with a confirmation email, or, with --confirmed, active.

    An active subscriber keeps their state and topics: they change topics from their preferences page.
    """
    parts = ready_parts()
    choice = topic_service.checked(topic or [], allowed=topics_on_offer(parts))
    consent = subscriber_service.Consent(form="cli --confirmed" if confirmed else "cli")
    moment = now()
    with unit_of_work(parts.engine) as session:
        subscriber = subscriber_service.add(
            session, email, confirmed=confirmed, consent=consent, now=moment, topics=choice
        )
        chosen = topic_service.chosen(subscriber)
        pending = subscriber.state == SubscriberState.pending
        window = parts.settings.confirm_resend_window
        due = (
            subscriptions.confirmation_due(subscriber, now=moment, resend_window=window) if pending else None
        )
    typer.echo(f"{subscriber.email}: {subscriber.state}; topics: {label(chosen)}")
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


@editors_app.command("token")
@reports_errors
def editors_token(name: Annotated[str, typer.Argument(help="An editor named in DIGEST_EDITORS.")]) -> None:
    """Print an API token for POST /api/summaries (Authorization: Bearer TOKEN).

    It works until the editor leaves DIGEST_EDITORS, changes password hash, or every key of
    DIGEST_SECRET_KEYS that could have signed it is gone.
    """
    parts = open_parts()
    if name not in parts.settings.editor_accounts:
        raise NotFound(f"{name!r} is not an editor: add name:argon2-hash to DIGEST_EDITORS first")
    typer.echo(parts.api_tokens.issue(name))


@app.command("bench")
@reports_errors
def bench_command(
    subscribers: Annotated[int, typer.Option(help="Synthetic active subscribers to send to.")] = 100_000,
    database: Annotated[
        str | None, typer.Option(help="An EMPTY database URL (default: a temporary SQLite file).")
    ] = None,
    spec: Annotated[
        Path | None,
        typer.Option(
            help="SendGrid's OpenAPI spec (tsg_mail_v3.json) the stand-in validates requests against "
            "(default: ../shared/corpora/sendgrid/ beside the checkout when there; else no validation)."
        ),
    ] = None,
    validate_every: Annotated[int, typer.Option(help="The stand-in validates every Nth request.")] = 20,
    naive: Annotated[int, typer.Option(help="Recipients sent the naive way, for the ratio.")] = 500,
    concurrency: Annotated[
        int, typer.Option(help="Requests in flight at once (with --smtp: SMTP connections).")
    ] = 4,
    batch_size: Annotated[int, typer.Option(help="Deliveries claimed and recorded together.")] = 5_000,
    smtp: Annotated[
        str | None,
        typer.Option(
            help="Measure the SMTP backend instead: 'sink' starts Postfix's smtp-sink on loopback, "
            "HOST:PORT sends to an SMTP server already listening there."
        ),
    ] = None,
    messages: Annotated[
        int, typer.Option(help="With --smtp: messages sent, one per synthetic subscriber.")
    ] = 20_000,
    topics: Annotated[
        int,
        typer.Option(
            help="Also send with the summaries spread over K topics and subscribers choosing among them "
            "(many variants), and compare with one variant."
        ),
    ] = 0,
    processes: Annotated[
        int, typer.Option(help="Sender processes sharing the send (PostgreSQL), as digest worker would.")
    ] = 1,
) -> None:
    """Measure a send through SendGrid to a local stand-in (--smtp: through SMTP), against the naive way."""
    # The bench and its stand-in server are developer tools: loaded here only, not by every command.
    from digest.devtools.bench import find_spec, run_bench, run_topics_bench
    from digest.devtools.bench_smtp import run_smtp_bench

    if smtp is not None:
        typer.echo(
            run_smtp_bench(
                target=smtp,
                messages=messages,
                database=database,
                naive=naive,
                concurrency=concurrency,
                batch_size=batch_size,
            ).table()
        )
        return
    options: dict[str, Any] = {
        "subscribers": subscribers,
        "database": database,
        "spec": spec or find_spec(),
        "validate_every": validate_every,
        "naive": naive,
        "concurrency": concurrency,
        "batch_size": batch_size,
        "processes": processes,
    }
    if topics:
        typer.echo(run_topics_bench(topics=topics, **options))
        return
    typer.echo(run_bench(**options).table())


def main() -> None:
    app()
