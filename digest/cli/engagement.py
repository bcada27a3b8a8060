"""``digest report``: what an issue did (delivered, clicks per summary and topic, who left), or with
``--topics`` which topics readers went on to read over the last issues."""

import json
from typing import Annotated

import typer

from digest.cli.base import IssueArg, app, now, ready_parts, reports_errors
from digest.db.engine import unit_of_work
from digest.engagement.report import IssueReport, as_json, issue_report
from digest.engagement.topics import TopicRank, ranking
from digest.errors import NotFound
from digest.issues.queries import latest_published_number


@app.command("report")
@reports_errors
def report_command(
    issue: IssueArg = None,
    as_json_: Annotated[bool, typer.Option("--json", help="JSON for scripts instead of a table.")] = False,
    topics: Annotated[
        bool, typer.Option("--topics", help="Rank topics by unique clicks per delivered email instead.")
    ] = False,
    issues: Annotated[int, typer.Option("--issues", min=1, help="With --topics: over this many issues.")] = 8,
) -> None:
    """What an issue did: delivered, clicks per summary and topic, click rate, unsubscribes, bounces."""
    parts = ready_parts()
    with unit_of_work(parts.engine) as session:
        if topics:
            ranks = ranking(session, issues=issues)
            typer.echo(
                json.dumps([topic_json(rank) for rank in ranks], indent=2) if as_json_ else topic_table(ranks)
            )
            return
        number = issue if issue is not None else latest_published_number(session)
        if number is None:
            raise NotFound("no issue has been sent yet: there is nothing to report")
        report = issue_report(session, number, now=now())
    typer.echo(json.dumps(as_json(report), indent=2, ensure_ascii=False) if as_json_ else table(report))


def percent(value: float) -> str:
    return f"{value * 100:.1f} %"


def table(report: IssueReport) -> str:
    sent = f"{report.sent_at:%Y-%m-%d %H:%M} UTC" if report.sent_at else "not sent"
    lines = [
        f"Issue {report.number}: {report.subject} (sent {sent})",
        f"  delivered      {report.delivered:>8}",
        f"  clicked        {report.clicks.unique:>8}  ({percent(report.click_rate)} of delivered)",
        f"  clicks         {report.clicks.total:>8}  (machine clicks set apart: {report.machine_clicks})",
        f"  opens (estimate) {report.opens.unique:>6}  ({percent(report.open_rate)} of delivered; "
        f"{report.opens.total} opens, machine opens set apart: {report.opens.machine})",
        f"  unsubscribed   {report.unsubscribed:>8}  ({percent(report.unsubscribe_rate)})",
        f"  {report.readers_counted}",
        f"  bounced        {report.bounced:>8}",
        f"  complained     {report.complained:>8}",
        "",
        f"  {'unique':>7} {'total':>6} {'doi':>4}  summary",
    ]
    lines += [
        f"  {row.clicks.unique:>7} {row.clicks.total:>6} {row.doi_clicks:>4}  {row.title}"
        for row in report.summaries
    ]
    if report.note_clicks:
        lines.append(f"  {'':>7} {report.note_clicks:>6} {'':>4}  (links in the editor's note)")
    lines += ["", f"  {'unique':>7} {'total':>6}  topic"]
    lines += [f"  {count.unique:>7} {count.total:>6}  {topic}" for topic, count in report.topics]
    if report.movement:
        lines += [
            "",
            "  people's clicks since the send: "
            + ", ".join(f"{m.label} {m.clicks}" for m in report.movement),
            "  unsubscribes since the send:    "
            + ", ".join(f"{m.label} {m.unsubscribed}" for m in report.movement),
        ]
    return "\n".join(lines)


def topic_json(rank: TopicRank) -> dict[str, object]:
    return {
        "topic": rank.topic,
        "unique_clicks": rank.unique_clicks,
        "delivered": rank.delivered,
        "issues": rank.issues,
        "per_delivered": round(rank.per_delivered, 4),
    }


def topic_table(ranks: list[TopicRank]) -> str:
    if not ranks:
        return "no topic was clicked in the issues sent so far"
    lines = [f"  {'per delivered':>13} {'unique':>7} {'delivered':>9} {'issues':>6}  topic"]
    lines += [
        f"  {percent(r.per_delivered):>13} {r.unique_clicks:>7} {r.delivered:>9} {r.issues:>6}  {r.topic}"
        for r in ranks
    ]
    return "\n".join(lines)
