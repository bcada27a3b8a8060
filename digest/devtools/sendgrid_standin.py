"""A SendGrid stand-in: a real HTTP server on loopback that answers ``POST /v3/mail/send`` like SendGrid.

It is the test double of ``digest.mail.sendgrid``, shipped beside it for the tests and the benchmark.
Every request body is validated against SendGrid's own OpenAPI spec (``tsg_mail_v3.json``; a benchmark
may validate every Nth request only), and SendGrid's rules the schema does not express are enforced: at
most 1,000 personalizations and 1,000 recipients, no address twice in a request. Each accepted request
becomes one JSON line in the record file (its message id and every recipient with its ``custom_args``),
written, flushed and fsynced before the 202 goes out, so a test can count acceptances after killing the
sender: ``recorded()`` and ``read_record()`` give one entry per recipient. It can be told to answer
429, 5xx, 401 or 403 for the next requests, to refuse given addresses with a 400 (every time: a bad
address stays bad), or to be slow.
``delay`` slows every request, half before the acceptance and half after (the answer's way back): a
client that gives up or dies meanwhile does not undo what was accepted, just as at SendGrid.

Validating needs ``jsonschema`` (the ``bench`` extra, part of ``test``); without a spec nothing is validated
and the rest holds. Loaded only by the tests and ``digest bench``; imports nothing of digest.
"""

import json
import os
import secrets
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

MAX_RECIPIENTS = 1000
MAX_BODY = 30 * 1024 * 1024
# "The total collective size of your substitutions may not exceed 10,000 bytes per personalization".
MAX_SUBSTITUTION_BYTES = 10_000
HELP = "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html"
Answer = tuple[int, dict[str, str], dict[str, Any] | None]


def request_validator(spec: Path) -> "Draft202012Validator":
    """The validator of the Mail Send request body, its ``$ref``s resolved inside the spec document."""
    from jsonschema import Draft202012Validator  # only a validating stand-in needs it
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    document = json.loads(spec.read_text(encoding="utf-8"))
    uri = spec.resolve().as_uri()
    registry: Registry[Any] = Registry().with_resource(
        uri, Resource.from_contents(document, default_specification=DRAFT202012)
    )
    pointer = "components/requestBodies/PostMailSend/content/application~1json/schema"
    return Draft202012Validator(
        {"$ref": f"{uri}#/{pointer}"},
        registry=registry,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def read_record(record: Path) -> Iterator[dict[str, Any]]:
    """Every accepted recipient in a record file: ``{"email", "custom_args", "message_id"}``."""
    if not record.exists():
        return
    with record.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                accepted = json.loads(line)
                for recipient in accepted["recipients"]:
                    yield {**recipient, "message_id": accepted["message_id"]}


def errors(*items: tuple[str, str | None]) -> dict[str, Any]:
    """SendGrid's error body."""
    return {"errors": [{"message": message, "field": field, "help": HELP} for message, field in items]}


@dataclass
class Answered:
    """One request as the stand-in saw it: when, the status it answered and the 429 reset it announced."""

    at: float
    status: int
    recipients: int = 0
    reset: int | None = None


class SendGridStandIn:
    """``with SendGridStandIn(key, spec, record) as sendgrid:`` serves on ``sendgrid.url`` until the end;
    ``spec=None`` validates no request against the schema (SendGrid's other rules still hold)."""

    def __init__(
        self, api_key: str, spec: Path | None, record: Path, *, validate_every: int = 1, keep_bodies: int = 20
    ) -> None:
        self.api_key = api_key
        self.record_path = record
        self.validator = request_validator(spec) if spec is not None else None
        self.validate_every = max(1, validate_every)
        self.delay = 0.0  # seconds every request takes, half before accepting and half after
        self.bodies: deque[dict[str, Any]] = deque(maxlen=keep_bodies)  # the last accepted request bodies
        self.answered: list[Answered] = []
        self._script: deque[tuple[int, float] | None] = deque()  # (status, seconds to a 429's reset)
        self._slow: deque[float] = deque()
        self._refused: set[str] = set()
        self._count = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- control ------------------------------------------------------------------------------------

    def start(self) -> "SendGridStandIn":
        handler = type("Handler", (_Handler,), {"standin": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = self._thread = None

    def __enter__(self) -> "SendGridStandIn":
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL to give the client as ``host``."""
        assert self._server is not None, "start the stand-in first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def requests(self) -> int:
        """How many requests have arrived so far (answered or not)."""
        return self._count

    def fail_next(self, status: int, times: int = 1, *, reset_in: float = 1.0, after: int = 0) -> None:
        """Answer ``status`` (429, 500, 503, 401, 403, ...) to ``times`` requests, after ``after`` more."""
        with self._lock:
            self._script.extend([None] * after + [(status, reset_in)] * times)

    def slow_next(self, seconds: float, times: int = 1) -> None:
        """Take ``seconds`` longer to answer the next ``times`` requests."""
        with self._lock:
            self._slow.extend([seconds] * times)

    def refuse(self, *addresses: str) -> None:
        """Answer 400 naming these recipients whenever a request holds them, as SendGrid does for bad ones."""
        with self._lock:
            self._refused.update(address.lower() for address in addresses)

    def recorded(self) -> list[dict[str, Any]]:
        """Every accepted recipient so far, from the durable record."""
        return list(read_record(self.record_path))

    # --- answering ----------------------------------------------------------------------------------

    def answer(
        self, path: str, authorization: str | None, raw: bytes | None, content_type: str = "application/json"
    ) -> Answer:
        """The status, headers and JSON body for one request; ``raw`` is None when it was too large."""
        status, headers, body, accepted = self.respond(path, authorization, raw, content_type)
        reset = headers.get("X-RateLimit-Reset")
        with self._lock:
            self.answered.append(Answered(time.time(), status, accepted, int(reset) if reset else None))
        return status, headers, body

    def respond(
        self, path: str, authorization: str | None, raw: bytes | None, content_type: str
    ) -> tuple[*Answer, int]:
        with self._lock:
            self._count += 1
            number = self._count
            scripted = self._script.popleft() if self._script else None
            slow = self._slow.popleft() if self._slow else 0.0
        time.sleep(slow + self.delay / 2)
        if path.split("?")[0] != "/v3/mail/send":
            return 404, {}, errors(("not found", None)), 0
        if authorization != f"Bearer {self.api_key}":
            return (
                401,
                {},
                errors(("The provided authorization grant is invalid, expired, or revoked", None)),
                0,
            )
        if raw is None:
            return 413, {}, errors(("content too large", None)), 0
        if content_type.split(";")[0].strip().lower() != "application/json":
            return 415, {}, errors((f"Content-Type {content_type!r} is not application/json", None)), 0
        if scripted is not None:
            return *self.scripted(*scripted), 0
        try:
            body = json.loads(raw)
        except ValueError:
            return 400, {}, errors(("Bad Request", None)), 0
        problem = self.check(body, validate=number % self.validate_every == 0)
        if problem is not None:
            return 400, {}, problem, 0
        if body.get("mail_settings", {}).get("sandbox_mode", {}).get("enable"):
            return 200, {}, None, 0  # sandbox mode: validated, nothing sent
        message_id = secrets.token_urlsafe(16)
        accepted = self.accept(body, message_id)
        time.sleep(self.delay / 2)
        return 202, {"X-Message-Id": message_id}, None, accepted

    def scripted(self, status: int, reset_in: float) -> Answer:
        if status != 429:
            return status, {}, errors((f"scripted {status}", None))
        reset = int(time.time() + reset_in)
        headers = {"X-RateLimit-Limit": "600", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)}
        return 429, headers, errors(("too many requests", None))

    def check(self, body: Any, *, validate: bool) -> dict[str, Any] | None:
        """SendGrid's 400 for this body, or None when it would be accepted."""
        if validate and self.validator is not None:
            found = sorted(self.validator.iter_errors(body), key=lambda e: list(e.absolute_path))
            if found:
                return errors(*[(e.message, ".".join(map(str, e.absolute_path)) or None) for e in found[:20]])
        if not isinstance(body, dict) or not isinstance(body.get("personalizations"), list):
            return errors(("The personalizations field is required.", "personalizations"))
        people = body["personalizations"]
        if not 1 <= len(people) <= MAX_RECIPIENTS:
            return errors(
                ("The personalizations field must have between 1 and 1000 items.", "personalizations")
            )
        seen: set[str] = set()
        refused: list[tuple[str, str | None]] = []
        for index, person in enumerate(people):
            if substitution_bytes(person) > MAX_SUBSTITUTION_BYTES:
                field = f"personalizations.{index}.substitutions"
                return errors(("Substitutions may not exceed 10,000 bytes per personalization.", field))
            for kind in ("to", "cc", "bcc"):
                for position, recipient in enumerate(person.get(kind, [])):
                    address = str(recipient.get("email", "")).lower()
                    field = f"personalizations.{index}.{kind}"
                    if address in seen:
                        return errors(
                            (
                                f"Each email address in the personalization block should be unique "
                                f"between to, cc, and bcc. We found the first duplicate instance of "
                                f"[{address}] in the {field} field.",
                                field,
                            )
                        )
                    seen.add(address)
                    if address in self._refused:
                        refused.append(("Does not contain a valid address.", f"{field}.{position}.email"))
        if len(seen) > MAX_RECIPIENTS:
            return errors(("The total number of recipients must be no more than 1000.", "personalizations"))
        return errors(*refused) if refused else None

    def accept(self, body: dict[str, Any], message_id: str) -> int:
        """Write the request's line and make it durable before the request is answered."""
        recipients = [
            {"email": recipient["email"], "custom_args": person.get("custom_args", {})}
            for person in body["personalizations"]
            for kind in ("to", "cc", "bcc")
            for recipient in person.get(kind, ())
        ]
        line = json.dumps({"message_id": message_id, "recipients": recipients}) + "\n"
        with self._lock:
            with self.record_path.open("a", encoding="utf-8") as record:
                record.write(line)
                record.flush()
                os.fsync(record.fileno())
            self.bodies.append(body)
        return len(recipients)


def substitution_bytes(person: Any) -> int:
    """The size of a personalization's substitutions, keys and values, in UTF-8."""
    found = person.get("substitutions") if isinstance(person, dict) else None
    if not isinstance(found, dict):
        return 0
    return sum(len(str(key).encode()) + len(str(value).encode()) for key, value in found.items())


class _Handler(BaseHTTPRequestHandler):
    standin: SendGridStandIn

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length <= MAX_BODY else None
        kind = self.headers.get("Content-Type") or ""
        status, headers, body = self.standin.answer(self.path, self.headers.get("Authorization"), raw, kind)
        payload = json.dumps(body).encode() if body is not None else b""
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if payload:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            pass  # the client gave up (a timeout): what was accepted stays accepted, as at SendGrid

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests read ``answered`` and the record instead."""
