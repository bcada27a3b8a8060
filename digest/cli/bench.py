"""``digest bench``: loads the developer tools only when run."""

from pathlib import Path
from typing import Annotated, Any

import typer

from digest.cli.base import app, reports_errors


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
