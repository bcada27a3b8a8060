"""``digest demo``, ``db upgrade``, ``run``, ``scheduler``, ``status``, ``serve``: running the service."""

import os
import signal
import socket
import threading
from typing import Annotated

import typer

from digest.cli.base import (
    app,
    db_app,
    log,
    now,
    open_parts,
    ready_parts,
    reports_errors,
    service_parts,
)
from digest.cli.sending import describe_send, stop_on_sigterm
from digest.core.schedule import cron_trigger
from digest.db import engine as db
from digest.db.engine import unit_of_work
from digest.errors import InvalidInput
from digest.ops import runs
from digest.ops.cycle import CyclePlan, run_cycle
from digest.ops.demo import run_demo
from digest.ops.status import describe as describe_status
from digest.ops.status import status
from digest.scheduler.leader import leadership_for
from digest.scheduler.runner import SchedulerProcess
from digest.sending import held


@app.command("demo")
@reports_errors
def demo_command() -> None:
    """Create the database, load samples and three subscribers, compose issue 1 and send it to the outbox."""
    parts = open_parts()
    parts.settings.email_backend = "outbox"  # the demo always writes files, whatever is configured
    settings = parts.settings
    with parts.sender() as sender:
        result = run_demo(
            parts.engine,
            parts.renderer,
            sender,
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


@app.command("run")
@reports_errors
def run_command() -> None:
    """One full cycle of the scheduled job: ingest, compose when due, send when approved and due."""
    parts = service_parts()
    settings = parts.settings
    moment = now()
    plan = CyclePlan(
        cron_trigger(settings.schedule, settings.timezone),
        settings.review_window,
        parts.compose_rules(),
        local=parts.local_delivery(),
    )
    stopping = threading.Event()
    with (
        parts.sender() as sender,
        stop_on_sigterm(sender, stopping),
        runs.recorded(parts.engine, runs.CYCLE, clock=now) as note,
    ):
        sources = parts.sources(now=moment)
        report = run_cycle(
            parts.engine, sources, parts.renderer, sender, plan, now=moment, should_stop=stopping.is_set
        )
        note.detail = report.summary
        if report.stopped:
            note.outcome = "interrupted"
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
        process.run()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


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
    files, deliveries = held.waiting(settings.held_outcomes)
    if files:
        # A send stopped by a long database outage left them: until recorded, those people are "sending".
        typer.echo(
            f"HELD: the outcomes of {deliveries} deliveries the provider took during a database outage wait "
            f"in {settings.held_outcomes} ({files} file(s)); the next send on this machine records them "
            "(`digest send`, or the scheduler or a worker here)"
        )


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
