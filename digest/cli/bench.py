"""``digest bench``: loads the developer tools only when run."""

from pathlib import Path
from typing import Annotated, Any

import typer

from digest.cli.base import app, reports_errors
from digest.core.engagement import Tracking

Subscribers = Annotated[int, typer.Option(help="Synthetic active subscribers to send to.")]
Database = Annotated[
    str | None, typer.Option(help="An EMPTY database URL (default: a temporary SQLite file).")
]
Spec = Annotated[
    Path | None,
    typer.Option(
        help="SendGrid's OpenAPI spec (tsg_mail_v3.json) the stand-in validates requests against "
        "(default: ../shared/corpora/sendgrid/ beside the checkout when there; else no validation)."
    ),
]
ValidateEvery = Annotated[int, typer.Option(help="The stand-in validates every Nth request.")]
Naive = Annotated[int, typer.Option(help="Recipients sent the naive way, for the ratio.")]
Concurrency = Annotated[int, typer.Option(help="Requests in flight at once (with --smtp: SMTP connections).")]
BatchSize = Annotated[int, typer.Option(help="Deliveries claimed and recorded together.")]
Smtp = Annotated[
    str | None,
    typer.Option(
        help="Measure the SMTP backend instead: 'sink' starts Postfix's smtp-sink on loopback, "
        "HOST:PORT sends to an SMTP server already listening there."
    ),
]
Messages = Annotated[int, typer.Option(help="With --smtp: messages sent, one per synthetic subscriber.")]
Topics = Annotated[
    int,
    typer.Option(
        help="Also send with the summaries spread over K topics and subscribers choosing among them "
        "(many variants), and compare with one variant."
    ),
]
Zones = Annotated[
    int,
    typer.Option(
        help="Also send with local-time delivery, subscribers spread over K time zones (K waves), and "
        "compare each wave's throughput with the single-wave send."
    ),
]
TrackingOption = Annotated[
    Tracking,
    typer.Option(
        help="DIGEST_TRACKING of the send: off, aggregate (the default) or individual (each reader's tag "
        "signed and filled into every tracked link)."
    ),
]
ReportClicks = Annotated[
    int,
    typer.Option(
        "--report-clicks",
        help="Measure instead an issue's report (digest report) over N stored clicks, against the naive way.",
    ),
]
Processes = Annotated[
    int, typer.Option(help="Sender processes sharing the send (PostgreSQL), as digest worker would.")
]


@app.command("bench")
@reports_errors
def bench_command(
    subscribers: Subscribers = 100_000,
    database: Database = None,
    spec: Spec = None,
    validate_every: ValidateEvery = 20,
    naive: Naive = 500,
    concurrency: Concurrency = 4,
    batch_size: BatchSize = 5_000,
    smtp: Smtp = None,
    messages: Messages = 20_000,
    topics: Topics = 0,
    processes: Processes = 1,
    zones: Zones = 0,
    tracking: TrackingOption = Tracking.aggregate,
    report_clicks: ReportClicks = 0,
) -> None:
    """Measure a send through SendGrid to a local stand-in (--smtp: through SMTP), against the naive way."""
    # The bench and its stand-in server are developer tools: loaded here only, not by every command.
    from digest.devtools.bench import find_spec, run_bench, run_topics_bench
    from digest.devtools.bench_smtp import run_smtp_bench

    shared: dict[str, Any] = {
        "database": database,
        "naive": naive,
        "concurrency": concurrency,
        "batch_size": batch_size,
    }
    if report_clicks:
        from digest.devtools.bench_report import run_report_bench

        typer.echo(run_report_bench(clicks=report_clicks, database=database))
        return
    if smtp is not None:
        typer.echo(run_smtp_bench(target=smtp, messages=messages, **shared).table())
        return
    options = {
        **shared,
        "subscribers": subscribers,
        "spec": spec or find_spec(),
        "validate_every": validate_every,
        "processes": processes,
        "tracking": str(tracking),
    }
    if topics:
        typer.echo(run_topics_bench(topics=topics, **options))
        return
    if zones:
        from digest.devtools.bench_zones import run_zones_bench

        typer.echo(run_zones_bench(zones=zones, **options))
        return
    typer.echo(run_bench(**options).table())
