"""The editor's reports: ``/editor/issues/{number}/report`` (what one issue did) and ``/editor/topics``
(which topics readers go on to read), each chart beside a table of its numbers; and the figures of the
last issues for the issue list."""

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from digest.engagement.report import IssueReport, recent, report_of
from digest.engagement.topics import ranking_of
from digest.errors import DigestError
from digest.web.charts import Bar, bar_chart, line_chart
from digest.web.context import Web, WebDep
from digest.web.editor_auth import AuthDep, EditorDep

router = APIRouter()
TOPIC_ISSUES = 8  # the topics view looks over this many issues
# How the report names each rule that sets an open apart (``core/opens.MachineReason``).
MACHINE_RULES = {
    "proxy": "a privacy proxy's prefetch",
    "prefetch": "within a minute of the send",
    "scanner": "a link scanner's",
}


def percent(value: float) -> str:
    return f"{value * 100:.1f} %"


def page(request: Request, web: Web, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    return web.pages.render(request, name, status, **context)


@router.get("/editor/issues/{number}/report", response_class=HTMLResponse)
def report_page(request: Request, number: int, editor: EditorDep, web: WebDep, auth: AuthDep) -> HTMLResponse:
    try:
        report = report_of(web.engine, number, now=web.now())
    except DigestError as exc:
        return page(request, web, "message.html", 404, title="No such issue", message=str(exc))
    return page(
        request,
        web,
        "editor/report.html",
        editor=editor,
        form_token=auth.form_token(editor),
        report=report,
        percent=percent,
        charts=report_charts(report),
        machine_rules=MACHINE_RULES,
    )


def report_charts(report: IssueReport) -> dict[str, Markup]:
    summaries = [Bar(row.title, row.clicks.unique, str(row.clicks.unique)) for row in report.summaries]
    topics = [Bar(topic, count.unique, str(count.unique)) for topic, count in report.topics]
    opens = [
        Bar("Readers", report.opens.unique, str(report.opens.unique)),
        Bar("People's opens", report.opens.total, str(report.opens.total)),
        Bar("Machine opens", report.opens.machine, str(report.opens.machine)),
    ]
    moments = [Bar(moment.label, moment.clicks, str(moment.clicks)) for moment in report.movement]
    return {
        "summaries": bar_chart(f"Issue {report.number}: readers who clicked each summary", summaries),
        "topics": bar_chart(f"Issue {report.number}: readers who clicked each topic", topics),
        "movement": line_chart(f"Issue {report.number}: clicks since the send", moments),
        "opens": bar_chart(f"Issue {report.number}: opens, an estimate", opens),
    }


def recent_figures(web: Web) -> dict[str, Any]:
    """The last issues' delivered, click rate and unsubscribe rate, with their two charts."""
    reports = recent(web.engine, now=web.now())
    clicks = [Bar(f"Issue {r.number}", r.click_rate, percent(r.click_rate)) for r in reports]
    leaving = [Bar(f"Issue {r.number}", r.unsubscribe_rate, percent(r.unsubscribe_rate)) for r in reports]
    return {
        "recent": list(reversed(reports)),
        "recent_charts": {
            "clicks": bar_chart("Click rate of the last issues", clicks),
            "leaving": bar_chart("Unsubscribe rate of the last issues", leaving),
        }
        if reports
        else {},
    }


@router.get("/editor/topics", response_class=HTMLResponse)
def topics_page(request: Request, editor: EditorDep, web: WebDep, auth: AuthDep) -> HTMLResponse:
    ranks = ranking_of(web.engine, issues=TOPIC_ISSUES)
    bars = [Bar(rank.topic, rank.per_delivered, percent(rank.per_delivered)) for rank in ranks]
    return page(
        request,
        web,
        "editor/topics.html",
        editor=editor,
        form_token=auth.form_token(editor),
        ranks=ranks,
        issues=TOPIC_ISSUES,
        percent=percent,
        chart=bar_chart(
            f"Readers who clicked per delivered email, by topic, last {TOPIC_ISSUES} issues", bars
        ),
    )
