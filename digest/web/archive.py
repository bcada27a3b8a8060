"""The public archive: ``/issues`` and ``/issues/{number}`` ("view in browser"), with no personal links."""

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from digest.db.engine import unit_of_work
from digest.issues import queries
from digest.rendering import Markers, Personalizer, RecipientLinks
from digest.web.context import WebDep
from digest.web.pages import secure

router = APIRouter()


@router.get("/issues", response_class=HTMLResponse)
def archive(request: Request, web: WebDep) -> HTMLResponse:
    with unit_of_work(web.engine) as session:
        listing = [
            (issue.number, issue.subject, issue.send_started_at or issue.created_at)
            for issue in queries.published(session)
        ]
    return web.pages.render(request, "archive.html", issues=listing)


@router.get("/issues/{number}", response_class=HTMLResponse)
def archived_issue(request: Request, number: int, web: WebDep) -> HTMLResponse:
    with unit_of_work(web.engine) as session:
        issue = queries.published_issue(session, number)
        html = issue.html if issue else None
        markers = issue.markers if issue else ""
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
    response = HTMLResponse(Personalizer(html, Markers.of(markers)).fill(links))
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; "
        "base-uri 'none'; frame-ancestors 'none'"
    )
    secure(response)
    return response
