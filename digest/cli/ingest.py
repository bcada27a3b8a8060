"""``digest ingest``: gather summaries from the configured sources."""

from typing import Annotated

import typer

from digest.cli.base import app, fail, now, ready_parts, reports_errors
from digest.ops.cycle import ingest_recorded
from digest.sources import ReadInFull


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
