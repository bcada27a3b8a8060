"""The public archive: ``/issues`` and ``/issues/{number}`` ("view in browser"), with no personal links."""

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlmodel import col, select

from digest.db.engine import unit_of_work
from digest.db.models import PUBLISHED, Issue
from digest.rendering import Personalizer, RecipientLinks
from digest.web.context import WebDep
from digest.web.pages import secure

router = APIRouter()


@router.get("/issues", response_class=HTMLResponse)
def archive(request: Request, web: WebDep) -> HTMLResponse:
    with unit_of_work(web.engine) as session:
        issues = session.exec(
            select(Issue).where(col(Issue.status).in_(PUBLISHED)).order_by(col(Issue.number).desc())
        )
        listing = [
            (issue.number, issue.subject, issue.send_started_at or issue.created_at) for issue in issues
        ]
    return web.pages.render(request, "archive.html", issues=listing)


@router.get("/issues/{number}", response_class=HTMLResponse)
def archived_issue(request: Request, number: int, web: WebDep) -> HTMLResponse:
    html = None
    if 0 < number < 2**31:  # beyond the column's range there is no issue (and no database error)
        with unit_of_work(web.engine) as session:
            issue = session.exec(
                select(Issue).where(Issue.number == number, col(Issue.status).in_(PUBLISHED))
            ).first()
            html = issue.html if issue else None
    if html is None:
        return web.pages.render(
            request,
            "message.html",
            404,
            title="No such issue",
            message=f"Issue {number} has not been published.",
        )
    # The stored email, exactly as sent, with the personal links replaced by general pages.
    links = RecipientLinks(
        unsubscribe=f"{web.base_url}/unsubscribe", preferences=f"{web.base_url}/preferences"
    )
    response = HTMLResponse(Personalizer(html).fill(links))
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; "
        "base-uri 'none'; frame-ancestors 'none'"
    )
    secure(response)
    return response
