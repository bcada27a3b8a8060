"""``/subscribe`` (HTML form and JSON) and ``/confirm/{token}``: double opt-in.

The answer to a sign-up is the same page (or JSON) for a new, pending, active or unsubscribed address;
any email goes out in a background task after the answer, so timing does not tell either. Topics are
optional and checked against those on offer before any subscriber is looked up, so a refusal names the
topic and tells nothing about the address.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel
from starlette.datastructures import FormData

from digest.core.topics import choice_of
from digest.db.models import SubscriberState
from digest.errors import InvalidInput
from digest.i18n import N_
from digest.subscribers import challenges, links, topics
from digest.subscribers.records import Consent, address_key, normalise_address
from digest.tokens import Purpose, TokenExpired, TokenInvalid
from digest.web.context import Web, WebDep
from digest.web.guard import FORM_MAX_AGE, client_ip

router = APIRouter()
FORM = "subscribe"
CHECK_INBOX = N_(
    "Thank you. If this address can receive our emails, a message is on its way: open the link in it to "
    "confirm. Nothing is sent until you do."
)


class SubscribeRequest(BaseModel):
    email: str
    consent: bool = False
    altcha: str = ""
    topics: list[str] = []  # none: everything


@router.get("/subscribe", response_class=HTMLResponse)
def subscribe_form(request: Request, web: WebDep, email: str = "") -> HTMLResponse:
    return form_page(request, web, email=email)


def form_page(
    request: Request,
    web: Web,
    *,
    email: str = "",
    picked: Sequence[str] = (),
    error: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    return web.pages.render(
        request,
        "subscribe.html",
        status_code,
        email=email,
        error=error,
        consent_text=web.consent_text,
        form_token=web.guard.form_token(FORM),
        proof=web.proof.challenge() if web.proof else None,
        tracking=web.tracking_notice,
        **topic_fields(web, picked),
    )


def topic_fields(web: Web, picked: Sequence[str] = ()) -> dict[str, Any]:
    """What ``_subscribe_fields.html`` needs for its topic boxes: those on offer, and which are ticked."""
    return {"topics": web.topics_on_offer(), "picked": set(choice_of(picked))}


@router.get("/altcha/challenge")
def proof_challenge(web: WebDep) -> JSONResponse:
    """A proof-of-work challenge for API clients, when ``DIGEST_ALTCHA`` is on."""
    if web.proof is None:
        return JSONResponse({"error": "no proof-of-work is required here"}, 404)
    return JSONResponse(web.proof.challenge(), headers={"Cache-Control": "no-store"})


BAD_BODY = (
    "a JSON object with a valid 'email' and 'consent': true is required, "
    "and optionally 'topics': a list of topic names"
)
NEEDS_PROOF = N_("The anti-robot check did not complete: please let the page finish it, then send again.")
FORM_TOO_OLD = N_("This form has expired or was not served by this site; please reload it.")
NO_CONSENT = N_("Please tick the box to agree to receive the emails.")
BAD_EMAIL = N_("Please enter a valid email address.")
BAD_TOPICS = N_("Please pick from the topics listed: %(problem)s.")


@dataclass
class Posted:
    """A sign-up as sent: a JSON body, still raw, or a form."""

    json: bytes | None = None
    form: FormData | None = None


async def posted(request: Request) -> Posted:
    """Read on the event loop, so that ``subscribe`` can run in a worker thread (see ``web.context``)."""
    if request.headers.get("content-type", "").startswith("application/json"):
        return Posted(json=await request.body())
    return Posted(form=await request.form())


@router.post("/subscribe", response_model=None)
def subscribe(
    request: Request, web: WebDep, tasks: BackgroundTasks, sent: Annotated[Posted, Depends(posted)]
) -> Response:
    if sent.form is None:
        try:
            body = json.loads(sent.json or b"")
        except (ValueError, RecursionError):  # not JSON (or not UTF-8): an invalid body, not a 500
            body = None
        return subscribe_json(request, web, tasks, body)
    form = sent.form
    fields = {key: str(value) for key, value in form.items() if isinstance(value, str)}
    picked = [value for value in form.getlist("topics") if isinstance(value, str)]
    return subscribe_html(request, web, tasks, fields, picked)


def subscribe_html(
    request: Request, web: Web, tasks: BackgroundTasks, fields: dict[str, str], picked: list[str]
) -> HTMLResponse:
    email = fields.get("email", "").strip()

    def refused(error: str) -> HTMLResponse:
        """The form again with ``error`` (a catalogue message) in the pages' language."""
        shown = web.pages.gettext(error)
        return form_page(request, web, email=email, picked=picked, error=shown, status_code=400)

    try:
        web.guard.check_form(FORM, fields.get("form_token", ""))
    except TokenInvalid:
        return refused(FORM_TOO_OLD)
    web.guard.check_ip(request, FORM)
    if fields.get("consent") != "yes":
        return refused(NO_CONSENT)
    try:
        key = address_key(normalise_address(email))
    except InvalidInput:
        return refused(BAD_EMAIL)
    try:
        choice = topics.checked(picked, allowed=web.topics_on_offer())
    except InvalidInput as exc:
        return refused(web.pages.gettext(BAD_TOPICS) % {"problem": exc})
    web.guard.check_address(key)
    if web.proof and not web.proof.accept(fields.get("altcha", "")):
        return refused(NEEDS_PROOF)
    # One form, one sign-up: a served form's token replayed is answered as an expired form.
    if not challenges.spend_form_token(
        web.engine, fields.get("form_token", ""), now=web.now(), lifetime=FORM_MAX_AGE
    ):
        return refused(FORM_TOO_OLD)
    if web.guard.is_human(FORM, fields.get("form_token", ""), fields.get("website", "")):
        register(request, web, tasks, email, choice, form="web form")
    return message_page(request, web, N_("Check your inbox"), CHECK_INBOX)


def subscribe_json(request: Request, web: Web, tasks: BackgroundTasks, body: Any) -> JSONResponse:
    web.guard.check_ip(request, FORM)
    try:
        wanted = SubscribeRequest.model_validate(body)
        key = address_key(normalise_address(wanted.email))
    except (ValueError, InvalidInput):
        return JSONResponse({"error": BAD_BODY}, 422)
    if not wanted.consent:
        return JSONResponse(
            {"error": "'consent' must be true: the subscriber must agree to receive the emails"}, 422
        )
    try:
        choice = topics.checked(wanted.topics, allowed=web.topics_on_offer())
    except InvalidInput as exc:
        return JSONResponse({"error": f"'topics': {exc}"}, 422)
    web.guard.check_address(key)
    if web.proof and not web.proof.accept(wanted.altcha):
        return JSONResponse(
            {"error": "'altcha' must hold a solved challenge from GET /altcha/challenge"}, 422
        )
    register(request, web, tasks, wanted.email, choice, form="JSON API")
    return JSONResponse({"status": "check-your-inbox", "message": CHECK_INBOX}, 202)


def register(
    request: Request,
    web: Web,
    tasks: BackgroundTasks,
    email: str,
    choice: Sequence[str],
    *,
    form: str,
    timezone: str | None = None,
) -> None:
    consent = Consent(
        form=form,
        ip=client_ip(request),
        user_agent=request.headers.get("user-agent"),
        text_version=web.consent_text_version,
        timezone=timezone,
    )
    notice = links.sign_up(
        web.engine, email, consent, now=web.now(), resend_window=web.resend_window, choice=choice
    )
    if notice is not None:  # only now, after the commit
        tasks.add_task(web.deliver, notice)


@router.get("/confirm/{token}", response_class=HTMLResponse)
def confirm_page(request: Request, token: str, web: WebDep) -> HTMLResponse:
    """Shows a page that confirms by POSTing itself: a scanner that only fetches the link confirms nobody."""
    if links.holder(web.engine, web.tokens, Purpose.confirm, token).state == SubscriberState.active:
        return message_page(request, web, N_("You are subscribed"), CONFIRMED)
    return web.pages.render(request, "confirm.html", action=f"/confirm/{token}")


CONFIRMED = N_("Your subscription is confirmed. The next digest will reach you on its usual day.")


@router.post("/confirm/{token}", response_class=HTMLResponse)
def confirm(request: Request, token: str, web: WebDep, tasks: BackgroundTasks) -> HTMLResponse:
    web.guard.check_ip(request, "confirm")
    notice = links.confirm(web.engine, web.tokens, token, now=web.now())
    if notice is not None:
        tasks.add_task(web.deliver, notice)
    return message_page(request, web, N_("You are subscribed"), CONFIRMED)


def message_page(
    request: Request, web: Web, title: str, message: str, status_code: int = 200
) -> HTMLResponse:
    """The one-message page, ``title`` and ``message`` (catalogue messages) in the pages' language."""
    words = web.pages.gettext
    return web.pages.render(request, "message.html", status_code, title=words(title), message=words(message))


def problem_words(problem: TokenInvalid) -> str:
    """What went wrong, as a catalogue message: a link too old, a form to reload, or a broken link."""
    if isinstance(problem, TokenExpired):
        return N_("Links to confirm or change a subscription work for a limited time.")
    if str(problem).startswith("this form"):  # tokens.py: a page's form token, not the link
        return FORM_TOO_OLD
    return N_("The link is not one we sent, or it was cut short when it was copied.")


def link_problem(request: Request, problem: TokenInvalid) -> HTMLResponse:
    """An expired, tampered or spent link: say so plainly and offer a new one, never a 500. The app's
    answer to ``TokenInvalid`` from any route (``app.create_app``) that does not catch it itself."""
    web: Web = request.app.state.web
    expired = isinstance(problem, TokenExpired)
    return web.pages.render(
        request,
        "link_problem.html",
        410 if expired else 400,
        title=web.pages.gettext(N_("This link has expired") if expired else N_("This link does not work")),
        message=web.pages.gettext(problem_words(problem)),
        form_token=web.guard.form_token(FORM),
        consent_text=web.consent_text,
        proof=web.proof.challenge() if web.proof else None,
        **topic_fields(web),
    )
