"""``digest compose``, ``preview``, ``variants``, ``approve``, ``hold``, ``cancel``: an issue from draft to
approved."""

import sys
import webbrowser
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from digest.cli.base import IssueArg, app, now, ready_parts, reports_errors
from digest.core.zones import wall_time
from digest.db.engine import unit_of_work
from digest.db.models import IssueStatus
from digest.errors import InvalidInput, NotFound
from digest.issues import decisions as issue_service
from digest.issues.compose import compose, too_old_now
from digest.issues.queries import (
    get_issue,
)
from digest.issues.schedule import schedule, shown
from digest.rendering.checks import check_email
from digest.sending import report as variant_report


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
        name, html, plain, markers = f"issue-{chosen.number}", chosen.html, chosen.text, chosen.markers
        if variant is not None:
            row, email = variant_report.variant_email(session, parts.renderer, chosen, variant)
            name, html, plain, markers = f"{name}-variant-{row.number}", email.html, email.text, email.markers
        document = issue_service.filled_for_preview(
            plain if text else html, markers, base_url=parts.settings.base_url
        )
        if check:
            html = issue_service.filled_for_preview(html, markers, base_url=parts.settings.base_url)
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


@app.command("approve")
@reports_errors
def approve_command(
    issue: Annotated[int, typer.Argument(help="Issue number.")],
    at: Annotated[
        str | None,
        typer.Option("--at", help='Send it at this time on DIGEST_TIMEZONE\'s clocks: "2026-12-08 06:00".'),
    ] = None,
    at_once: Annotated[
        bool, typer.Option("--now", help="Clear a time given before: it goes with the next send.")
    ] = False,
) -> None:
    """Approve an issue for sending: with the next send, or at the time --at gives (change it the same way
    until the send starts; with DIGEST_DELIVERY=local, that time on each reader's own clock)."""
    if at is not None and at_once:
        raise InvalidInput("give either --at or --now, not both")
    parts = ready_parts()
    zone = parts.settings.timezone
    moment = now()
    with unit_of_work(parts.engine) as session:
        if at is not None or at_once:
            when = wall_time(at, zone) if at is not None else None
            schedule(session, issue, when, zone=zone, by="cli", now=moment)
        decided = issue_service.decide(session, issue, IssueStatus.approved, by="cli", now=moment)
        line = f"issue {decided.number} is {decided.status}"
        if decided.send_at is not None:
            line += f"; it goes out at {shown(decided.send_at, zone)}"
    typer.echo(line)


app.command("hold", help="Hold an issue: it is not sent until approved again.")(
    decision_command(IssueStatus.held)
)


app.command("cancel", help="Cancel an issue; its summaries go back to the pool.")(
    decision_command(IssueStatus.cancelled)
)
