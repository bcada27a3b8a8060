"""The SendGrid backend: Mail Send v3 through the official ``sendgrid`` client, 1,000 recipients a request.

A batch shares one body: each request carries the subject and the content (``text/plain`` first, then
``text/html``) once, and one personalization per recipient with its ``substitutions`` (the links that
fill the body's markers), its ``List-Unsubscribe`` headers and Message-ID, and ``custom_args`` holding
the issue and delivery ids (never personal data). Requests are posted with ``client.mail.send.post``.

A request is written as JSON text (``sendgrid_requests.py``) rather than handed to the client as a dict:
the shared part once per body, each personalization once per recipient (``quoted`` strings joined), a
third of the cost of building dicts for ``json.dumps``. The client's ``Mail`` helpers are slower still
and reverse personalizations. The client also formats every request body into a debug message before
asking whether debug logging is on, which took as long as writing the JSON and would put every address
and unsubscribe link of a send into a debug log: the body given to it (``Payload``) formats as its size.

SendGrid's answers are mapped once, here:

- 2xx: every recipient of the request accepted (provider id: ``X-Message-Id``); 200 is sandbox mode;
- 429: wait until ``X-RateLimit-Reset`` (bounded), try again;
- 5xx, 408, timeouts, connection errors: back off exponentially with jitter, then ``TransientMailError``;
- 400 naming personalizations: ``PermanentMailError`` for those, the rest go again in a new request;
  any other 400, 413, 415: ``PermanentMailError`` for the request, with SendGrid's message;
- 401, 403, 404, 405: ``MailerUnusable`` (the key or the host is wrong): nothing is marked sent.

A timeout is the one ambiguous answer: SendGrid may have accepted the request. It is retried like a
5xx, so a recipient can get a second copy after one; SendGrid has no idempotency key to prevent it.

Imports ``digest.mail.base``, ``digest.errors`` and the ``sendgrid`` client; never ``digest.db``.
"""

import http.client
import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient

from digest.errors import MailerUnusable, PermanentMailError, TransientMailError
from digest.mail.base import Envelope, Mailer, Outcome, OutgoingMessage, SharedBody, not_sent
from digest.mail.sendgrid_requests import (
    Payload,
    personalization,
    personalizations,
    plan_requests,
    request,
    shared_members,
)

log = logging.getLogger(__name__)

_NAMED = re.compile(r"^personalizations\.(\d+)(?:\.|$)")
CONTENT_TYPE = "application/json; charset=utf-8"  # not "application/json": the client then takes text


@dataclass(frozen=True)
class Retry:
    """How long one request is tried before its recipients are given up as transient failures."""

    attempts: int = 4  # tries on 5xx, timeouts and connection errors
    backoff: float = 0.5  # seconds before the second try; doubles each try, with jitter
    max_backoff: float = 8.0
    rate_limited: int = 10  # 429s in a row before giving up
    max_rate_limit_wait: float = 60.0  # never wait longer than this for X-RateLimit-Reset

    def pause(self, tries: int) -> float:
        """Exponential backoff with jitter: half the step fixed, half random, so threads spread out."""
        step = min(self.max_backoff, self.backoff * 2.0 ** (tries - 1))
        return step / 2 + random.uniform(0, step / 2)

    def rate_limit_pause(self, reset: str | None, now: float) -> float:
        """Until the announced reset (epoch seconds), bounded; a missing or past reset waits a backoff."""
        try:
            wait = float(reset) - now if reset else 0.0
        except ValueError:
            wait = 0.0
        return min(self.max_rate_limit_wait, max(0.0, wait)) + random.uniform(0, self.backoff)


class _Rejected(Exception):
    """A 4xx that refuses (part of) one request; ``errors`` is SendGrid's list, ``status`` the code."""

    def __init__(self, status: int, errors: list[dict[str, Any]]) -> None:
        self.status = status
        self.errors = errors
        super().__init__(f"{status}: " + "; ".join(describe(error) for error in errors))

    def named(self, count: int) -> dict[int, str] | None:
        """Personalization index -> reason, when every error names one of the ``count`` sent; else None."""
        named: dict[int, str] = {}
        for error in self.errors:
            match = _NAMED.match(str(error.get("field") or ""))
            if self.status != 400 or match is None or int(match.group(1)) >= count:
                return None
            index = int(match.group(1))
            named[index] = f"{named[index]}; {describe(error)}" if index in named else describe(error)
        return named or None


class SendGridMailer(Mailer):
    """Sends through SendGrid's Mail Send API; requests of one batch go out on ``concurrency`` threads."""

    name = "sendgrid"

    def __init__(
        self,
        api_key: str,
        *,
        host: str = "https://api.sendgrid.com",
        timeout: float = 30.0,
        sandbox: bool = False,
        concurrency: int = 4,
        retry: Retry | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.host = host
        self.sandbox = sandbox
        self.concurrency = max(1, concurrency)
        self.retry = retry or Retry()
        self.sleep = sleep
        self.api = SendGridAPIClient(api_key, host=host)
        self.api.client.timeout = timeout  # the client has no timeout of its own: without one a send can hang
        self.api.client.request_headers["Content-Type"] = CONTENT_TYPE
        self._pool: ThreadPoolExecutor | None = None
        self._shared: dict[SharedBody, str] = {}

    # --- the Mailer interface -----------------------------------------------------------------------

    def send(self, message: OutgoingMessage) -> str:
        shared = self.shared(SharedBody(message.subject, message.html, message.text, message.from_))
        person = personalization(message.to, message.message_id, message.headers, {}, {})
        try:
            return self.post(request(shared, [person])) or ""
        except _Rejected as exc:
            raise PermanentMailError(f"SendGrid refused the message to {message.to}: {exc}") from exc

    def send_batch(self, body: SharedBody, envelopes: Sequence[Envelope]) -> list[Outcome]:
        return self.send_batches([(body, envelopes)])[0] if envelopes else []

    def send_batches(self, batches: Sequence[tuple[SharedBody, Sequence[Envelope]]]) -> list[list[Outcome]]:
        """Every request of every body goes out on the same pool, ``concurrency`` at a time: a claimed
        batch split over many small variants keeps as many requests in flight as one large one."""
        work: list[tuple[str, list[Envelope]]] = []
        for body, envelopes in batches:
            if envelopes:
                shared = self.shared(body)
                plan = plan_requests([e.to for e in envelopes])
                work.extend((shared, [envelopes[i] for i in group]) for group in plan)
        refused = threading.Event()  # set on MailerUnusable: requests not yet posted are not posted at all

        def deliver(shared: str, group: list[Envelope], people: list[str]) -> list[Outcome] | MailerUnusable:
            if refused.is_set():
                return [Outcome(e.key, error=TransientMailError("not sent: SendGrid refused")) for e in group]
            try:
                return self.deliver(shared, group, people)
            except MailerUnusable as exc:
                refused.set()
                return exc

        # One request needs no thread; several go out on the pool, at most ``concurrency`` at a time.
        # Each request's JSON is written here, in this thread, and posted as soon as it is: the pool's
        # threads only wait on SendGrid, and do not contend for the interpreter while they do.
        if len(work) == 1:
            results = [deliver(*work[0], personalizations(work[0][1]))]
        else:
            pool = self.pool()
            posted = [pool.submit(deliver, shared, group, personalizations(group)) for shared, group in work]
            results = [future.result() for future in posted]
        return merge(batches, work, results)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    # --- one request --------------------------------------------------------------------------------

    def deliver(self, shared: str, envelopes: list[Envelope], people: list[str]) -> list[Outcome]:
        """Send one request (``people``: the envelopes' personalizations); recipients SendGrid names as
        bad fail alone and the rest go again."""
        outcomes: dict[str, Outcome] = {}
        pending = envelopes
        while pending:
            try:
                provider_id = self.post(request(shared, people))
            except TransientMailError as exc:
                outcomes.update((e.key, Outcome(e.key, error=exc)) for e in pending)
                break
            except _Rejected as exc:
                named = exc.named(len(pending))
                if named is None:
                    error = PermanentMailError(f"SendGrid refused the request: {exc}")
                    outcomes.update((e.key, Outcome(e.key, error=error)) for e in pending)
                    break
                for index, reason in named.items():
                    bad = pending[index]
                    message = f"SendGrid refused {bad.to}: {reason}"
                    outcomes[bad.key] = Outcome(bad.key, error=PermanentMailError(message))
                pending = [e for i, e in enumerate(pending) if i not in named]
                people = [p for i, p in enumerate(people) if i not in named]
                continue
            outcomes.update((e.key, Outcome(e.key, provider_id=provider_id)) for e in pending)
            break
        return [outcomes[e.key] for e in envelopes]

    def post(self, payload: Payload) -> str | None:
        """POST one request until SendGrid takes it; returns ``X-Message-Id``. Raises the mapped error."""
        tries = rate_limited = 0
        while True:
            try:
                response = self.api.client.mail.send.post(request_body=payload)
                return header(response.headers, "X-Message-Id")
            except HTTPError as exc:
                status = int(exc.status_code)
                if status == 429:
                    rate_limited += 1
                    if rate_limited >= self.retry.rate_limited:
                        raise TransientMailError(f"SendGrid rate limit: {rate_limited} 429s") from exc
                    reset = header(exc.headers, "X-RateLimit-Reset")
                    self.sleep(self.retry.rate_limit_pause(reset, time.time()))
                    continue
                self.refuse(status, exc)
                failure: Exception = exc
                reason = f"SendGrid answered {status}: {error_text(exc.body)}"
            except (OSError, http.client.HTTPException) as exc:  # URLError, socket.timeout, resets
                failure, reason = exc, f"no answer from SendGrid at {self.host}: {exc}"
            tries += 1
            if tries >= self.retry.attempts:
                raise TransientMailError(f"{reason} (after {tries} tries)") from failure
            log.warning("%s; trying again", reason)
            self.sleep(self.retry.pause(tries))

    def refuse(self, status: int, exc: HTTPError) -> None:
        """Raise the mapped error for an answer that no retry can change; return for retryable ones."""
        reason = error_text(exc.body)
        if status == 401:
            raise MailerUnusable(
                f"SendGrid rejected the API key (401: {reason}): "
                "set DIGEST_SENDGRID_API_KEY to a valid SendGrid API key"
            ) from exc
        if status == 403:
            raise MailerUnusable(
                f"SendGrid forbids this API key to send (403: {reason}): give the key in "
                "DIGEST_SENDGRID_API_KEY the Mail Send permission and check the sender identity"
            ) from exc
        if status in (404, 405):
            raise MailerUnusable(
                f"{self.host} answered {status} to POST /v3/mail/send: "
                "DIGEST_SENDGRID_HOST must be the SendGrid API, e.g. https://api.sendgrid.com"
            ) from exc
        if 400 <= status < 500 and status != 408:
            raise _Rejected(status, errors_of(exc.body, f"HTTP {status}")) from exc

    def shared(self, body: SharedBody) -> str:
        """What every personalization of a request shares (sender, subject, content, category), as the
        members of a JSON object without its braces; written once per body (a send's variants come back
        batch after batch)."""
        written = self._shared.get(body)
        if written is None:
            if len(self._shared) >= 64:
                self._shared.clear()
            written = self._shared[body] = shared_members(body, sandbox=self.sandbox)
        return written

    def pool(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="sendgrid")
        return self._pool


def merge(
    batches: Sequence[tuple[SharedBody, Sequence[Envelope]]],
    work: list[tuple[str, list[Envelope]]],
    results: list[list[Outcome] | MailerUnusable],
) -> list[list[Outcome]]:
    """One outcome per envelope, per batch, in order. A refusal is raised when SendGrid took nothing.

    When some requests were accepted before a 401/403, raising would lose what was sent: the rest are
    reported transient instead (back to pending), and the next batch's refusal pauses the send.
    """
    refusal = next((result for result in results if isinstance(result, MailerUnusable)), None)
    by_key: dict[str, Outcome] = {}
    for (_, group), result in zip(work, results, strict=True):
        if isinstance(result, MailerUnusable):
            by_key.update(zip((e.key for e in group), not_sent(group, result), strict=True))
        else:
            by_key.update((outcome.key, outcome) for outcome in result)
    outcomes = [[by_key[e.key] for e in envelopes] for _, envelopes in batches]
    if refusal is not None and not any(outcome.ok for batch in outcomes for outcome in batch):
        raise refusal
    return outcomes


def header(headers: Any, name: str) -> str | None:
    """A header from the client's answer (an ``email.message.Message``, or a dict in odd cases)."""
    if headers is None:
        return None
    value = headers.get(name)
    return str(value) if value is not None else None


def errors_of(body: bytes | str | None, fallback: str) -> list[dict[str, Any]]:
    """SendGrid's ``{"errors": [{"message", "field", "help"}]}``; a bare error when the body is not that."""
    try:
        errors = json.loads(body or b"")["errors"]
        if isinstance(errors, list) and all(isinstance(error, dict) for error in errors):
            return errors
    except (ValueError, TypeError, KeyError):
        pass
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or "")
    return [{"message": text.strip()[:300] or fallback, "field": None}]


def error_text(body: bytes | str | None) -> str:
    return "; ".join(describe(error) for error in errors_of(body, "no details"))


def describe(error: dict[str, Any]) -> str:
    field = error.get("field")
    message = str(error.get("message") or "no message")
    return f"{message} ({field})" if field and field != "null" else message
