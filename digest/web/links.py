"""The links in every email: ``/unsubscribe/{token}`` and ``/preferences/{token}``.

One-click unsubscribe (RFC 8058): a POST to the ``List-Unsubscribe`` URL unsubscribes at once, whatever
its body (form-urlencoded or multipart ``List-Unsubscribe=One-Click``, or empty), and answers 200 with
no redirect and no cookie; the token in the URL is its only authority, so it needs no CSRF token. GET
never unsubscribes: link scanners fetch every GET.

The preferences page also sets the subscriber's topics: those on offer, and any they chose that are no
longer offered (so they can untick it); none ticked means everything. And their time zone: typed into a
field that suggests IANA zones as they type (a ``datalist``: no script), checked with zoneinfo; empty
means the publisher's.
"""

import json
from collections.abc import Sequence
from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from digest.core.zones import checked_zone, zone_choices
from digest.db.engine import unit_of_work
from digest.db.models import Subscriber, SubscriberState
from digest.errors import InvalidInput
from digest.i18n import N_
from digest.subscribers import subscriptions, topics
from digest.tokens import Purpose, TokenInvalid
from digest.web.context import FormDep, Web, WebDep
from digest.web.pages import secure
from digest.web.subscribe import link_problem, message_page

router = APIRouter()
PREFERENCES_FORM = "preferences"
UNSUBSCRIBED = N_("You are unsubscribed and will get no more digests. You can sign up again at any time.")


@router.get("/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe_page(request: Request, token: str, web: WebDep) -> HTMLResponse:
    try:
        with unit_of_work(web.engine) as session:
            subscriber = subscriptions.subscriber_for(session, web.tokens, Purpose.unsubscribe, token)
    except TokenInvalid as exc:
        return link_problem(request, web, exc)
    if subscriber.state != SubscriberState.active:
        return message_page(request, web, N_("You are unsubscribed"), UNSUBSCRIBED)
    return web.pages.render(
        request, "unsubscribe.html", email=subscriber.email, action=f"/unsubscribe/{token}"
    )


@router.post("/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe(request: Request, token: str, web: WebDep) -> HTMLResponse:
    # No per-IP limit here: mailbox providers send every one-click POST from a few shared servers, and
    # a refused unsubscribe breaks the 48-hour rule. A forged token costs one HMAC to refuse.
    try:
        with unit_of_work(web.engine) as session:
            subscriber = subscriptions.subscriber_for(session, web.tokens, Purpose.unsubscribe, token)
            subscriptions.unsubscribe(session, subscriber, now=web.now())
    except TokenInvalid as exc:
        return link_problem(request, web, exc)
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
    try:
        with unit_of_work(web.engine) as session:
            subscriber = subscriptions.subscriber_for(session, web.tokens, Purpose.preferences, token)
            data = subscriptions.export(session, subscriber)
            choices = choosable(session, subscriber, web)
    except TokenInvalid as exc:
        return link_problem(request, web, exc)
    return preferences(request, web, token, data, choices)


def since_of(data: dict[str, object]) -> datetime | None:
    """When the subscription began (confirmed, or else asked for), for the page to write as a date."""
    value = data.get("confirmed_at") or data.get("subscribed_at")
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def choosable(session: Session, subscriber: Subscriber, web: Web) -> list[str]:
    """The topics on offer and those ``subscriber`` chose: a topic no summary carries any more stays
    on their page, ticked, until they untick it."""
    return sorted({*web.topics_on_offer(session), *topics.chosen(subscriber)})


def preferences(
    request: Request,
    web: Web,
    token: str,
    data: dict[str, object],
    choices: Sequence[str],
    notice: str = "",
    error: str = "",
) -> HTMLResponse:
    return web.pages.render(
        request,
        "preferences.html",
        400 if error else 200,
        data=data,
        since=since_of(data),
        active=data["state"] == SubscriberState.active,
        can_rejoin=data["state"] == SubscriberState.unsubscribed,
        action=f"/preferences/{token}",
        form_token=web.guard.form_token(PREFERENCES_FORM),
        notice=notice,
        error=error,
        topics=choices,
        zones=zone_choices(),
        publisher_zone=web.publisher_zone,
    )


@router.post("/preferences/{token}", response_class=HTMLResponse)
def change_preferences(request: Request, token: str, web: WebDep, form: FormDep) -> HTMLResponse:
    web.guard.check_ip(request, "preferences")
    action = str(form.get("action", ""))
    picked = [str(value) for value in form.getlist("topics")]
    words = web.pages.gettext
    error = ""
    try:
        web.guard.check_form(PREFERENCES_FORM, str(form.get("form_token", "")))
        with unit_of_work(web.engine) as session:
            subscriber = subscriptions.subscriber_for(session, web.tokens, Purpose.preferences, token)
            choices = choosable(session, subscriber, web)
            if action == "erase":
                if form.get("confirm") != "yes":
                    data = subscriptions.export(session, subscriber)
                    return preferences(
                        request, web, token, data, choices, words(N_("Tick the box to confirm the erasure."))
                    )
                subscriptions.erase(session, subscriber, now=web.now())
                return message_page(request, web, N_("Your data is erased"), ERASED)
            try:
                zone = str(form.get("timezone", ""))
                notice = change_subscription(session, subscriber, action, web, picked, choices, zone)
            except InvalidInput as exc:
                notice, error = "", words(N_("Nothing was saved: %(problem)s.")) % {"problem": exc}
            data = subscriptions.export(session, subscriber)
    except TokenInvalid as exc:
        return link_problem(request, web, exc)
    return preferences(request, web, token, data, choices, notice, error)


ERASED = N_(
    "We have erased your address and everything we kept about you. We keep only a one-way fingerprint of "
    "the address so that it is never mailed again, unless you sign up and confirm once more."
)


def change_subscription(
    session: Session,
    subscriber: Subscriber,
    action: str,
    web: Web,
    picked: Sequence[str],
    choices: Sequence[str],
    zone: str = "",
) -> str:
    """Do what the button pressed asks; return what to tell the subscriber, in the pages' language."""
    words = web.pages.gettext
    if action == "topics":
        topics.choose(subscriber, picked, allowed=choices)
        subscriber.updated_at = web.now()
        session.add(subscriber)
        chosen = topics.chosen(subscriber)
        if not chosen:
            return words(N_("Saved. With no topic ticked, you get every summary, whatever its topic."))
        return words(N_("Saved. You get only the summaries on these topics: %(topics)s.")) % {
            "topics": ", ".join(chosen)
        }
    if action == "timezone":
        subscriber.timezone = checked_zone(zone)
        subscriber.updated_at = web.now()
        session.add(subscriber)
        if subscriber.timezone is None:
            return words(N_("Saved. The digest reaches you by the publisher's time zone, %(zone)s.")) % {
                "zone": web.publisher_zone
            }
        return words(N_("Saved. The digest reaches you by the time in %(zone)s.")) % {
            "zone": subscriber.timezone
        }
    if action == "leave":
        subscriptions.unsubscribe(session, subscriber, now=web.now())
        return words(N_("You are unsubscribed. You will get no more digests."))
    if action == "rejoin" and subscriber.state == SubscriberState.unsubscribed:
        subscriptions.rejoin(session, subscriber, now=web.now())
        return words(N_("Welcome back: you will get the next digest."))
    return ""


@router.get("/preferences/{token}/data")
def download_data(request: Request, token: str, web: WebDep) -> Response:
    """The subscriber's data as a JSON download."""
    try:
        with unit_of_work(web.engine) as session:
            subscriber = subscriptions.subscriber_for(session, web.tokens, Purpose.preferences, token)
            data = subscriptions.export(session, subscriber)
    except TokenInvalid as exc:
        return link_problem(request, web, exc)
    response = Response(
        json.dumps(data, indent=2, ensure_ascii=False),
        media_type="application/json",
        headers={"Content-Disposition": 'attachment; filename="my-digest-data.json"'},
    )
    secure(response)
    return response
