"""``POST /api/subscribers``: a publisher's server signs up a reader who used the publisher's own form.

``Authorization: Bearer TOKEN`` with the ``sign-ups`` scope (``digest editors token NAME --scope
sign-ups``). The body names the reader's IP address and user agent: they go into the consent record and
the per-IP limit counts the reader's address, not the server's, so one busy publisher does not throttle
all its readers. Double opt-in applies (a confirmation is sent) unless the body says ``"confirmed": true``
and the token also has the ``proven-consent`` scope. Known and unknown addresses get the same answer.
"""

import ipaddress
import json
import logging

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from digest.core.zones import checked_zone
from digest.errors import InvalidInput
from digest.subscribers import links, topics
from digest.subscribers.records import Consent, address_key, normalise_address
from digest.tokens import ApiHolder, Scope
from digest.web.api import allowed
from digest.web.bodies import problem, read_body
from digest.web.context import Web, WebDep
from digest.web.subscribe import CHECK_INBOX, FORM

router = APIRouter()
log = logging.getLogger("digest.web.api")
MAX_BODY = 20_000
ACCEPTED = "The sign-up is recorded: the reader gets the digest from the next issue."


class SignUp(BaseModel):
    email: str
    ip: str
    user_agent: str | None = None
    consent: bool = False
    topics: list[str] = []
    timezone: str | None = None
    form: str = ""
    confirmed: bool = False


@router.post("/api/subscribers")
async def sign_up(request: Request, web: WebDep, tasks: BackgroundTasks) -> JSONResponse:
    holder = allowed(request, web, Scope.sign_ups)
    if isinstance(holder, JSONResponse):
        return holder
    body = await read_body(request, MAX_BODY, advice=": send one sign-up")
    return await run_in_threadpool(record, web, tasks, holder, body)


def record(web: Web, tasks: BackgroundTasks, holder: ApiHolder, body: bytes) -> JSONResponse:
    try:
        wanted = SignUp.model_validate(json.loads(body))
    except (ValueError, RecursionError, ValidationError):
        return problem(422, "the body must be a JSON object with 'email', 'ip' and 'consent': true")
    if wanted.confirmed and Scope.proven_consent not in holder.scopes:
        return problem(
            403, "'confirmed' needs a token with the proven-consent scope; leave it out to confirm by email"
        )
    try:
        ip, zone, choice = checked(web, wanted)
    except InvalidInput as exc:
        return problem(422, str(exc))
    web.guard.check_reader_ip(ip, FORM)
    web.guard.check_address(address_key(normalise_address(wanted.email)))
    consent = Consent(
        form=f"API ({holder.editor})" + (f": {wanted.form.strip()[:100]}" if wanted.form.strip() else ""),
        ip=ip,
        user_agent=wanted.user_agent,
        timezone=zone,
    )
    if wanted.confirmed:
        add_proven(web, wanted, consent, choice)
        return JSONResponse({"status": "accepted", "message": ACCEPTED}, 202)
    notice = links.sign_up(
        web.engine, wanted.email, consent, now=web.now(), resend_window=web.resend_window, choice=choice
    )
    if notice is not None:  # after the commit, and after the answer
        tasks.add_task(web.deliver, notice)
    return JSONResponse({"status": "check-your-inbox", "message": CHECK_INBOX}, 202)


def checked(web: Web, wanted: SignUp) -> tuple[str, str | None, list[str]]:
    """The reader's IP, time zone and topics, each checked; ``InvalidInput`` naming the first wrong."""
    try:
        ip = str(ipaddress.ip_address(wanted.ip.strip()))
    except ValueError as exc:
        raise InvalidInput(
            f"'ip' must be the reader's IP address (v4 or v6), not {wanted.ip[:60]!r}"
        ) from exc
    normalise_address(wanted.email)
    if not wanted.consent:
        raise InvalidInput("'consent' must be true: the reader must have agreed to receive the emails")
    zone = checked_zone(wanted.timezone)
    try:
        choice = topics.checked(wanted.topics, allowed=web.topics_on_offer())
    except InvalidInput as exc:
        raise InvalidInput(f"'topics': {exc}") from exc
    return ip, zone, list(choice)


def add_proven(web: Web, wanted: SignUp, consent: Consent, choice: list[str]) -> None:
    """Active at once. An address that was erased or reported spam stays as it is, with the same answer."""
    try:
        links.add_confirmed(web.engine, wanted.email, consent, now=web.now(), choice=choice)
    except InvalidInput:  # the address is not logged: it is a reader's
        log.info("api: a proven-consent sign-up of an erased or complained address was not applied")
