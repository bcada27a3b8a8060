"""The sign-up form other sites embed (``DIGEST_EMBED_ORIGINS``): its script, its signed timestamps, its
iframe page, and ``POST /embed/subscribe``, which takes both the plain form and the script's JSON.

Defences, in order: the sending page's origin (else 403, nothing sent), the per-IP limit, the fields,
the signed timestamp (a plain form sent without one, as with JavaScript off, is answered with this
site's own copy of the form, which carries one), the per-address limit, the proof of work when on, then
the timestamp spent once. A replayed timestamp, a filled honeypot or a form sent faster than
``DIGEST_MIN_FILL_TIME`` gets the usual answer and nothing is done. Known and unknown addresses get the
same answer (``subscriptions.request_subscription``).
"""

import json
import re
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ValidationError

from digest.core.zones import checked_zone
from digest.errors import InvalidInput
from digest.i18n import N_
from digest.subscribers import challenges, topics
from digest.subscribers.records import address_key, normalise_address
from digest.tokens import EmbedStamp, TokenInvalid
from digest.web.context import Web, WebDep
from digest.web.embed_sites import Embed
from digest.web.guard import FORM_MAX_AGE
from digest.web.subscribe import (
    BAD_EMAIL,
    BAD_TOPICS,
    CHECK_INBOX,
    FORM,
    FORM_TOO_OLD,
    NEEDS_PROOF,
    NO_CONSENT,
    Posted,
    posted,
    register,
)

router = APIRouter()
NOT_ALLOWED = "this sign-up form is not allowed on the site it was sent from; nothing was sent"
NOT_A_NAME = re.compile(r"[^\w .:/@-]+")


class Entry(BaseModel):
    """A sign-up as the embedded form sends it, from the script (JSON) or as a plain form."""

    email: str = ""
    consent: bool = False
    topics: list[str] = []
    form: str = ""
    website: str = ""  # the honeypot
    timezone: str = ""
    token: str = ""
    altcha: str = ""
    page: str = ""  # the page the reader was on, for the link back


@dataclass
class Problem:
    message: str
    field: str | None = None


def embed_of(web: Web) -> Embed:
    assert web.embed is not None, "create_app wires the embed"
    return web.embed


@router.get("/embed/embed.js", include_in_schema=False)
def script(web: WebDep, v: str = "") -> Response:
    """The script; a year's caching when the URL names this version, an hour's for an older snippet."""
    found = embed_of(web).script
    cache = "public, max-age=31536000, immutable" if v == found.version else "public, max-age=3600"
    headers = {"Cache-Control": cache, "X-Content-Type-Options": "nosniff"}
    headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return Response(found.body, media_type="text/javascript; charset=utf-8", headers=headers)


@router.get("/embed/token")
def token(request: Request, web: WebDep) -> JSONResponse:
    """A signed timestamp for an embedded form, for the site asking (a same-site fetch names none)."""
    embed = embed_of(web)
    origin = embed.sites.sender(request) if request.headers.get("origin") else embed.sites.own
    if origin is None:
        return JSONResponse({"error": NOT_ALLOWED}, 403, headers={"Cache-Control": "no-store"})
    issued: dict[str, Any] = {
        "token": embed.tokens.issue(origin),
        "min_fill_ms": int(web.guard.min_fill_time.total_seconds() * 1000),
    }
    if web.proof:
        issued["altcha"] = web.proof.challenge()
    return JSONResponse(issued, headers={"Cache-Control": "no-store"})


@router.get("/embed/form", response_class=HTMLResponse)
def framed_form(request: Request, web: WebDep, form: str = "") -> HTMLResponse:
    """The iframe variant: this site's own form, which only the allowed sites may frame."""
    embed = embed_of(web)
    host = embed.sites.sender(request) if request.headers.get("referer") else None
    return form_page(request, web, Entry(form=form_name(form)), origin=host or embed.sites.own)


def form_page(
    request: Request, web: Web, entry: Entry, *, origin: str, error: str = "", step: bool = False
) -> HTMLResponse:
    """This site's copy of the embedded form, with a fresh timestamp: the iframe, a plain form sent
    without a timestamp (JavaScript off), or one to correct."""
    embed = embed_of(web)
    page = web.pages.render(
        request,
        "embed_form.html",
        400 if error else 200,
        step=step,
        email=entry.email,
        error=error,
        consented=entry.consent,
        consent_text=web.consent_text,
        token=embed.tokens.issue(origin),
        form_name=entry.form,
        back=embed.sites.back_link(entry.page) or "",
        proof=web.proof.challenge() if web.proof else None,
        topics=web.topics_on_offer(),
        picked=set(entry.topics),
        # Under no-referrer a browser sends its post with "Origin: null", which names no site.
        referrer_policy="same-origin",
    )
    page.headers["Referrer-Policy"] = "same-origin"
    policy = page.headers["Content-Security-Policy"].replace("frame-ancestors 'none'", "")
    page.headers["Content-Security-Policy"] = policy + f"frame-ancestors {embed.sites.frame_ancestors()}"
    return page


@router.post("/embed/subscribe", response_model=None)
def embed_subscribe(
    request: Request, web: WebDep, tasks: BackgroundTasks, sent: Annotated[Posted, Depends(posted)]
) -> Response:
    origin = embed_of(web).sites.sender(request)
    as_json = sent.form is None
    if origin is None:
        return refused(request, web, as_json)
    web.guard.check_ip(request, FORM)
    entry = entry_of(sent)
    if entry is None:
        return JSONResponse({"error": "the body must be a JSON object of the embedded form's fields"}, 422)
    if not as_json:
        entry.page = entry.page or request.headers.get("referer", "")
    outcome = sign_up(request, web, tasks, entry, origin)
    if outcome is None:
        return answered(request, web, entry, as_json)
    if as_json:
        return JSONResponse({"error": web.pages.gettext(outcome.message), "field": outcome.field}, 422)
    # A plain form with no timestamp (JavaScript off) is asked to press Subscribe once more, no error.
    error = "" if outcome.field == "token" and not entry.token else web.pages.gettext(outcome.message)
    return form_page(request, web, entry, origin=origin, error=error, step=True)


def entry_of(sent: Posted) -> Entry | None:
    try:
        if sent.form is None:
            return Entry.model_validate(json.loads(sent.json or b""))
        fields = {key: str(value) for key, value in sent.form.items() if isinstance(value, str)}
        picked = [value for value in sent.form.getlist("topics") if isinstance(value, str)]
        return Entry.model_validate({**fields, "consent": fields.get("consent") == "yes", "topics": picked})
    except (ValueError, RecursionError, ValidationError):  # not JSON, not an object, wrong types
        return None


def sign_up(request: Request, web: Web, tasks: BackgroundTasks, entry: Entry, origin: str) -> Problem | None:
    """Check ``entry`` and register it when a person sent it; the problem to show, or None when done."""
    problem = field_problem(web, entry)
    if problem is not None:
        return problem
    stamp = stamp_of(web, entry.token, origin)
    if stamp is None:  # no timestamp (JavaScript off), an old one, or one handed to another site
        return Problem(FORM_TOO_OLD, "token")
    web.guard.check_address(address_key(normalise_address(entry.email)))
    if web.proof and not web.proof.accept(entry.altcha):
        return Problem(NEEDS_PROOF, "altcha")
    # One timestamp, one sign-up; a replay is answered as a sign-up and does nothing.
    spent = challenges.spend_form_token(web.engine, entry.token, now=web.now(), lifetime=FORM_MAX_AGE)
    human = not entry.website and stamp.age >= web.guard.min_fill_time.total_seconds()
    if spent and human:
        choice = topics.checked(entry.topics, allowed=web.topics_on_offer())
        where = stamp.origin or origin
        register(
            request,
            web,
            tasks,
            entry.email,
            choice,
            form=consent_form(entry.form, where),
            timezone=zone(entry),
        )
    return None


def field_problem(web: Web, entry: Entry) -> Problem | None:
    try:
        normalise_address(entry.email)
    except InvalidInput:
        return Problem(BAD_EMAIL, "email")
    if not entry.consent:
        return Problem(NO_CONSENT, "consent")
    try:
        topics.checked(entry.topics, allowed=web.topics_on_offer())
    except InvalidInput as exc:
        return Problem(web.pages.gettext(BAD_TOPICS) % {"problem": exc}, "topics")
    return None


def stamp_of(web: Web, token: str, origin: str) -> EmbedStamp | None:
    """The timestamp's claims when it is genuine, current and handed to the site now sending it (this
    site's own pages may send one handed to any allowed site: they are its iframe and follow-up)."""
    embed = embed_of(web)
    try:
        stamp = embed.tokens.stamp(token, max_age=FORM_MAX_AGE)
    except TokenInvalid:
        return None
    if origin != embed.sites.own and stamp.origin != origin:
        return None
    return stamp


def zone(entry: Entry) -> str | None:
    """The browser's time zone when it is one the zone database knows; anything else is dropped (the
    reader did not type it and cannot correct it)."""
    try:
        return checked_zone(entry.timezone)
    except InvalidInput:
        return None


def form_name(text: str) -> str:
    """A publisher's name for one of their forms, as kept in consent records: plain words, 60 at most."""
    return " ".join(NOT_A_NAME.sub(" ", text).split())[:60]


def snippet_name(text: str) -> str:
    """A form name fit for the snippet's element ids: lower-case letters, digits and dashes."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "signup"


def snippet(web: Web, name: str, *, with_topics: bool = True, nonce: str = "") -> str:
    """The HTML a publisher pastes: the plain form, its scoped style and the script at its version."""
    return web.pages.fragment(
        "embed_snippet.html",
        base_url=web.base_url,
        form_name=snippet_name(name),
        topics=web.topics_on_offer() if with_topics else [],
        consent_text=web.consent_text,
        script_url=f"{web.base_url}/embed/embed.js?v={embed_of(web).script.version}",
        nonce=nonce,
    )


def consent_form(name: str, where: str) -> str:
    """What the consent record says about the form: its name and the site it was on."""
    return f"{form_name(name) or 'embedded form'} on {where}"[:200]


def answered(request: Request, web: Web, entry: Entry, as_json: bool) -> Response:
    if as_json:
        return JSONResponse({"status": "check-your-inbox", "message": web.pages.gettext(CHECK_INBOX)}, 202)
    back = embed_of(web).sites.back_link(entry.page) or ""
    return web.pages.render(
        request,
        "embed_done.html",
        title=web.pages.gettext(N_("Check your inbox")),
        message=web.pages.gettext(CHECK_INBOX),
        back=back,
    )


def refused(request: Request, web: Web, as_json: bool) -> Response:
    if as_json:
        return JSONResponse({"error": NOT_ALLOWED}, 403)
    words = web.pages.gettext
    message = words(
        N_("The page you came from may not sign readers up to the %(name)s. Nothing was sent.")
    ) % {"name": web.pages.site_name}
    title = words(N_("Sign-up not accepted here"))
    return web.pages.render(request, "message.html", 403, title=title, message=message)
