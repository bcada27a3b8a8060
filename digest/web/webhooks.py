"""``POST /webhooks/sendgrid``: SendGrid's signed Event Webhook.

A request is processed only when all of this holds, and answered 403 otherwise:
- ``DIGEST_SENDGRID_WEBHOOK_PUBLIC_KEY`` is set (without it every request is refused);
- the ``X-Twilio-Email-Event-Webhook-Signature`` is a valid ECDSA P-256 / SHA-256 signature of the
  ``X-Twilio-Email-Event-Webhook-Timestamp`` followed by the raw body, exactly as received (verifying
  re-serialised JSON would fail on the first difference in spacing);
- that timestamp is at most 10 minutes old (and not more than 10 minutes ahead): the signature covers
  it, so a captured request cannot be replayed later. SendGrid's helper does not check this.

A processed request is answered 200, duplicates included: a non-2xx answer makes SendGrid retry for 24
hours, and every event is kept once whatever arrives (``subscribers/events.py``). SendGrid's format is
read at its adapter (``mail/sendgrid_events.py``): what is stored and applied are the product's own
event values. SendGrid's own ``open`` and ``click`` events are counted once with the redirect's and the
pixel's (``core/provider_counts.py``).
"""

import logging
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from digest.errors import DatabaseError, InvalidInput
from digest.mail.sendgrid_events import SIGNATURE, TIMESTAMP, EventSignatures, parse
from digest.subscribers import events as provider_events
from digest.web.bodies import problem, read_body
from digest.web.context import Web, WebDep

router = APIRouter()
log = logging.getLogger("digest.web.webhooks")

MAX_BODY = 20_000_000


@router.post("/webhooks/sendgrid")
async def sendgrid_events(request: Request, web: WebDep) -> JSONResponse:
    if web.event_signatures is None:
        return problem(403, "the webhook is off: DIGEST_SENDGRID_WEBHOOK_PUBLIC_KEY is not set")
    body = await read_body(request, MAX_BODY)
    # Checking the signature, parsing and storing thousands of events take seconds: in a worker thread.
    signed = Signed(body, request.headers.get(SIGNATURE, ""), request.headers.get(TIMESTAMP, ""))
    return await run_in_threadpool(receive, web, web.event_signatures, signed)


@dataclass
class Signed:
    """A request's body and the two headers that sign it."""

    body: bytes
    signature: str
    timestamp: str


def receive(web: Web, signatures: EventSignatures, signed: Signed) -> JSONResponse:
    refusal = signatures.refusal(signed.body, signed.signature, signed.timestamp, now=web.now())
    if refusal is not None:
        log.warning("webhook: refused a request: %s", refusal)
        return problem(403, f"refused: {refusal}")
    now = web.now()
    try:
        batch = parse(signed.body, now=now)
    except InvalidInput as exc:
        return problem(400, str(exc))
    try:
        report = provider_events.receive(
            web.engine,
            batch.events,
            received=batch.received,
            now=now,
            blocked_in_a_row=web.blocked_in_a_row,
            counting=web.provider_counting() if web.provider_counting else None,
        )
    except DatabaseError:
        # The database is down or busy (subscribers are locked in one order: no deadlock); SendGrid retries.
        log.exception("webhook: could not store the events; SendGrid will send them again")
        return problem(503, "could not store the events now; send them again", **{"Retry-After": "60"})
    log.info("webhook: %d events, %d new, %d duplicates", report.received, report.new, report.duplicates)
    return JSONResponse(report.as_json(), 200, headers={"Cache-Control": "no-store"})
