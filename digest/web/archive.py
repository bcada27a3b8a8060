"""The public archive: ``/issues``, ``/issues/{number}`` (the email's "view in browser") and the Atom feed
``/issues/feed.xml``.

These are pages of the site for anyone, so they carry no subscriber's links or wording: no unsubscribe or
preferences link, no "you are receiving this". Every address on them (canonical, card, feed, neighbours,
sign-up) is built from today's ``DIGEST_BASE_URL``, not the one the issue was composed under. Issues that
are not published answer exactly as missing ones do. Routes only: the reading is in ``issues/archive.py``.
"""

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from digest.issues import archive
from digest.issues.archive import ArchivedIssue
from digest.rendering.atom import Feed, FeedEntry, atom_feed
from digest.rendering.note import note_fragment
from digest.rendering.palette import BADGES, DARK, DARK_BADGES
from digest.web.context import Web, WebDep
from digest.web.pages import secure

router = APIRouter()


def about(web: Web) -> str:
    """What the archive is, for its cards and feed."""
    return web.pages.gettext(
        "Plain-language summaries of new clinical research: the key takeaway and what it means for you."
    )


@dataclass(frozen=True)
class Card:
    """What a shared link's preview shows (Open Graph and Twitter card)."""

    title: str
    description: str
    type: str = "website"
    published: str = ""


@router.get("/issues", response_class=HTMLResponse)
def archive_index(request: Request, web: WebDep) -> HTMLResponse:
    title = web.pages.gettext("Past issues of the %(name)s") % {"name": web.pages.site_name}
    card = Card(title, about(web))
    context = page_context(web, f"{web.base_url}/issues", card)
    return web.pages.render(request, "archive.html", issues=archive.listing(web.engine), **context)


@router.get("/issues/feed.xml")
def archive_feed(web: WebDep) -> Response:
    issues = archive.feed(web.engine)
    feed = Feed(
        title=web.pages.site_name,
        subtitle=about(web),
        url=f"{web.base_url}/issues/feed.xml",
        page_url=f"{web.base_url}/issues",
        updated=max((issue.entry.updated_at for issue in issues), default=web.now()),
        language=web.pages.language.code,
        entries=[feed_entry(web, issue) for issue in issues],
    )
    response = Response(atom_feed(feed), media_type="application/atom+xml; charset=utf-8")
    secure(response)
    return response


@router.get("/issues/{number}", response_class=HTMLResponse)
def archived_issue(request: Request, number: int, web: WebDep) -> HTMLResponse:
    issue = archive.archived_issue(web.engine, number)
    if issue is None:
        return web.pages.render(
            request,
            "message.html",
            404,
            title=web.pages.gettext("No such issue"),
            message=web.pages.gettext("Issue %(number)s has not been published.") % {"number": number},
        )
    entry, view = issue.entry, issue.view
    card = Card(entry.subject, entry.preheader or about(web), "article", entry.published_at.isoformat())
    return web.pages.render(
        request,
        "issue.html",
        issue=issue,
        note=note_fragment(view.note) if view.note.strip() else "",
        legend=any(item.evidence for item in view.featured),
        **page_context(web, f"{web.base_url}/issues/{entry.number}", card),
    )


def page_context(web: Web, page_url: str, card: Card) -> dict[str, Any]:
    """What both archive pages need: their addresses, their card and the archive's colours."""
    return {
        "base_url": web.base_url,
        "page_url": page_url,
        "card": card,
        "card_image": web.pages.logo_url or "",
        "card_image_alt": web.pages.logo_alt,
        "badges": {str(tone): colours for tone, colours in BADGES.items()},
        "dark_badges": {str(tone): colours for tone, colours in DARK_BADGES.items()},
        "dark": DARK,
    }


def feed_entry(web: Web, issue: ArchivedIssue) -> FeedEntry:
    entry = issue.entry
    return FeedEntry(
        url=f"{web.base_url}/issues/{entry.number}",
        title=web.pages.gettext("Issue %(number)s: %(subject)s")
        % {"number": entry.number, "subject": entry.subject},
        published=entry.published_at,
        updated=entry.updated_at,
        summary=entry.preheader or entry.subject,
        content_html=web.pages.fragment("_issue_items.html", view=issue.view),
    )
