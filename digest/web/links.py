"""The links in every email: ``/unsubscribe/{token}`` and ``/preferences/{token}``.

One-click unsubscribe (RFC 8058): a POST to the ``List-Unsubscribe`` URL unsubscribes at once, whatever
its body (form-urlencoded or multipart ``List-Unsubscribe=One-Click``, or empty), and answers 200 with
no redirect and no cookie; the token in the URL is its only authority, so it needs no CSRF token. GET
never unsubscribes: link scanners fetch every GET.

The preferences page also sets the subscriber's topics: those on offer, and any they chose that are no
longer offered (so they can untick it); none ticked means everything. And their time zone: typed into a
field that suggests IANA zones as they type (a ``datalist``: no script), checked with zoneinfo; empty
means the publisher's.

A link whose token names nobody (forged, expired, spent, erased) raises ``TokenInvalid`` from the use
case; the app answers it with one page for every route (``subscribe.link_problem``).
"""

import json
from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from digest.core.zones import zone_choices
from digest.db.models import SubscriberState
from digest.i18n import N_
from digest.subscribers import links
from digest.subscribers.leaving import LeftBy
from digest.tokens import Purpose
from digest.web.context import FormDep, Web, WebDep
from digest.web.pages import secure
from digest.web.subscribe import message_page

router = APIRouter()
PREFERENCES_FORM = "preferences"
UNSUBSCRIBED = N_("You are unsubscribed and will get no more digests. You can sign up again at any time.")


@router.get("/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe_page(request: Request, token: str, web: WebDep) -> HTMLResponse:
    holder = links.holder(web.engine, web.tokens, Purpose.unsubscribe, token)
    if holder.state != SubscriberState.active:
        return message_page(request, web, N_("You are unsubscribed"), UNSUBSCRIBED)
    return web.pages.render(request, "unsubscribe.html", email=holder.email, action=f"/unsubscribe/{token}")


@router.post("/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe(request: Request, token: str, web: WebDep, form: FormDep) -> HTMLResponse:
    # No per-IP limit here: mailbox providers send every one-click POST from a few shared servers, and
    # a refused unsubscribe breaks the 48-hour rule. A forged token costs one HMAC to refuse.
    # The page's button says it came from the page; any other POST is a mail client's one-click.
    by = LeftBy.link if form.get("from") == "page" else LeftBy.one_click
    links.unsubscribe(web.engine, web.tokens, token, now=web.now(), by=by, tracking=web.tracking)
    return message_page(request, web, N_("You are unsubscribed"), UNSUBSCRIBED)


@router.get("/unsubscribe", response_class=HTMLResponse)
@router.get("/preferences", response_class=HTMLResponse)
def links_without_token(request: Request, web: WebDep) -> HTMLResponse:
    """For anyone who arrives without a token (copies from before the archive became pages pointed here):
    the real links are personal and live in each email."""
    return message_page(
        request,
        web,
        N_("Use the link in your email"),
        N_(
            "Each digest email has personal Unsubscribe and Manage preferences links at its foot. "
            "Copies in the public archive carry none, so please use the ones in an email you received."
        ),
    )


@router.get("/preferences/{token}", response_class=HTMLResponse)
def preferences_page(request: Request, token: str, web: WebDep) -> HTMLResponse:
    found = links.preferences(web.engine, web.tokens, token, web.topic_offer, now=web.now())
    return preferences(request, web, token, found)


def since_of(data: dict[str, object]) -> datetime | None:
    """When the subscription began (confirmed, or else asked for), for the page to write as a date."""
    value = data.get("confirmed_at") or data.get("subscribed_at")
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def preferences(request: Request, web: Web, token: str, found: links.Preferences) -> HTMLResponse:
    words = web.pages.gettext
    notice = words(NOTICES[found.notice]) % found.values if found.notice else ""
    error = words(N_("Nothing was saved: %(problem)s.")) % {"problem": found.error} if found.error else ""
    return web.pages.render(
        request,
        "preferences.html",
        400 if error else 200,
        data=found.data,
        since=since_of(found.data),
        active=found.data["state"] == SubscriberState.active,
        can_rejoin=found.data["state"] == SubscriberState.unsubscribed,
        action=f"/preferences/{token}",
        form_token=web.guard.form_token(PREFERENCES_FORM),
        notice=notice,
        error=error,
        topics=found.topics,
        zones=zone_choices(),
        publisher_zone=web.publisher_zone,
    )


@router.post("/preferences/{token}", response_class=HTMLResponse)
def change_preferences(request: Request, token: str, web: WebDep, form: FormDep) -> HTMLResponse:
    web.guard.check_ip(request, "preferences")
    web.guard.check_form(PREFERENCES_FORM, str(form.get("form_token", "")))
    change = links.Change(
        action=str(form.get("action", "")),
        picked=[str(value) for value in form.getlist("topics")],
        confirmed=form.get("confirm") == "yes",
        zone=str(form.get("timezone", "")),
    )
    found = links.change_preferences(
        web.engine,
        web.tokens,
        token,
        change,
        web.topic_offer,
        now=web.now(),
        publisher_zone=web.publisher_zone,
        tracking=web.tracking,
    )
    if found.erased:
        return message_page(request, web, N_("Your data is erased"), ERASED)
    return preferences(request, web, token, found)


ERASED = N_(
    "We have erased your address and everything we kept about you. We keep only a one-way fingerprint of "
    "the address so that it is never mailed again, unless you sign up and confirm once more."
)


# What a change on the page tells the subscriber (``subscribers.links.NOTICES``), in the pages' language.
NOTICES = {
    "confirm-erasure": N_("Tick the box to confirm the erasure."),
    "every-topic": N_("Saved. With no topic ticked, you get every summary, whatever its topic."),
    "these-topics": N_("Saved. You get only the summaries on these topics: %(topics)s."),
    "publisher-zone": N_("Saved. The digest reaches you by the publisher's time zone, %(zone)s."),
    "own-zone": N_("Saved. The digest reaches you by the time in %(zone)s."),
    "left": N_("You are unsubscribed. You will get no more digests."),
    "back": N_("Welcome back: you will get the next digest."),
}


@router.get("/preferences/{token}/data")
def download_data(token: str, web: WebDep) -> Response:
    """The subscriber's data as a JSON download."""
    response = Response(
        json.dumps(links.data(web.engine, web.tokens, token), indent=2, ensure_ascii=False),
        media_type="application/json",
        headers={"Content-Disposition": 'attachment; filename="my-digest-data.json"'},
    )
    secure(response)
    return response
