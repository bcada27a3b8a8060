"""Generated requests on every route, on SQLite and PostgreSQL: whatever arrives, no answer is a 5xx.

Schemathesis generates the requests from the app's own OpenAPI schema, with valid and invalid values for
every parameter. The bodies that routes read themselves (the forms, the JSON sign-up and push API, the
webhook) are invisible to FastAPI, so they are described here and added to that schema. Half the requests
carry genuine secrets (a form token from the form's own page, a signed link, the API token, a signed
webhook, an editor's session) so that generation reaches past the checks into the code behind them.
"""

import json
import time
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter
from schemathesis import Case
from schemathesis.core import NOT_SET
from schemathesis.core.result import Ok
from schemathesis.generation.modes import GenerationMode
from sqlmodel import select

from digest.core.engagement import LinkKind, TrackedLink
from digest.core.summary import SummaryIn
from digest.db.engine import unit_of_work
from digest.db.models import Subscriber
from digest.tokens import Purpose
from digest.web.editor_auth import COOKIE
from digest.web.subscribe import SubscribeRequest
from digest.wiring import Parts
from tests.support.cli import Digest
from tests.support.editor import EDITORS, sign_in
from tests.support.web import BASE_URL, FORM_TOKEN, RELAXED, draft_issue, send_issue
from tests.support.webhook import PUBLIC_KEY, SIGNATURE, TIMESTAMP, sign

# Requests per database: every route many times over, in about 15 s on an idle 2-core machine.
EXAMPLES = 250
READER = "reader@example.org"
# Health answers say 503 on purpose when a part of the system is down (here: no scheduler runs).
HEALTH = {"/healthz", "/readyz"}
FORM = "application/x-www-form-urlencoded"
TEXT: dict[str, Any] = {"type": "string"}


# --- the bodies FastAPI cannot see -------------------------------------------------------------------


def either(*choices: str) -> dict[str, Any]:
    """What the page's buttons send; requests meant to be invalid send anything else."""
    return {"enum": list(choices)}


def form(*required: str, **fields: dict[str, Any]) -> dict[str, Any]:
    """A form's fields; ``required`` ones are always sent when the request is meant to be valid."""
    properties = {"form_token": TEXT, **fields}
    return {FORM: {"schema": {"type": "object", "properties": properties, "required": list(required)}}}


def json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


EMAIL = {"type": "string", "format": "email"}
TOPICS = {"anyOf": [TEXT, {"type": "array", "items": either("cardiology", "nutrition")}]}
EVENT = {
    "type": "object",
    "properties": {
        "event": either("bounce", "dropped", "deferred", "delivered", "spamreport", "unsubscribe", "open"),
        "email": either(READER, "someone@example.org"),
        "timestamp": {"type": "integer"},
        "sg_event_id": TEXT,
        "type": either("bounce", "blocked"),
        "reason": TEXT,
        "issue": TEXT,
        "delivery": TEXT,
    },
}
PLAIN_TEXT = "^[^\\x00-\\x20\\x7f][^\\x00-\\x1f\\x7f]*$"  # what a summary's text fields take


def as_accepted(schema: Any, name: str = "") -> Any:
    """A summary's JSON schema narrowed to what validation accepts (plain text, https URLs), so that
    most generated summaries go in instead of being rejected at the first field."""
    if isinstance(schema, list):
        return [as_accepted(item, name) for item in schema]
    if not isinstance(schema, dict):
        return schema
    narrowed = {
        key: as_accepted(value, key if key != "properties" else name) for key, value in schema.items()
    }
    if schema.get("type") == "string" and "format" not in schema:
        narrowed["pattern"] = "^https://[!-~]{5,80}$" if name == "url" else PLAIN_TEXT
    return narrowed


SUMMARIES = as_accepted(
    TypeAdapter(SummaryIn | list[SummaryIn]).json_schema(ref_template="#/components/schemas/{model}")
)
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("/subscribe", "post"): {
        **json_body(SubscribeRequest.model_json_schema()),
        **form(
            "email", "consent", email=EMAIL, consent=either("yes"), website=TEXT, altcha=TEXT, topics=TOPICS
        ),
    },
    ("/api/summaries", "post"): json_body({k: v for k, v in SUMMARIES.items() if k != "$defs"}),
    ("/webhooks/sendgrid", "post"): json_body({"anyOf": [{"type": "array", "items": EVENT}, EVENT]}),
    ("/unsubscribe/{token}", "post"): form(**{"List-Unsubscribe": either("One-Click")}),
    ("/preferences/{token}", "post"): form(
        "action", action=either("topics", "leave", "rejoin", "erase"), confirm=either("yes"), topics=TOPICS
    ),
    ("/editor/login", "post"): form("name", "password", name=either("ada"), password=TEXT),
    ("/editor/logout", "post"): form(),
    ("/editor/issues/{number}", "post"): form(
        "action",
        action=either("approve", "hold", "cancel", "arrange", "words", "test"),
        subject=TEXT,
        preheader=TEXT,
        note=TEXT,
        order={"type": "string", "pattern": "^[0-9 ]{0,20}$"},
        move={"type": "string", "pattern": "^[0-9]{1,3}:(up|down|drop)$"},
        to=EMAIL,
    ),
}
HEADERS: dict[tuple[str, str], list[str]] = {
    ("/webhooks/sendgrid", "post"): [SIGNATURE, TIMESTAMP],
    ("/api/summaries", "post"): ["Authorization"],
}


def described(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI schema with the bodies and headers its routes read themselves."""
    document = app.openapi()
    for (path, method), content in BODIES.items():
        document["paths"][path][method]["requestBody"] = {"content": content}
    for (path, method), names in HEADERS.items():
        operation = document["paths"][path][method]
        operation["parameters"] = operation.get("parameters", []) + [
            {"name": name, "in": "header", "required": False, "schema": TEXT} for name in names
        ]
    document.setdefault("components", {}).setdefault("schemas", {}).update(SUMMARIES.get("$defs", {}))
    return document


# --- the site and its genuine secrets ----------------------------------------------------------------


@pytest.fixture
def web_env(web_env: dict[str, str]) -> dict[str, str]:
    return {
        **web_env,
        **RELAXED,
        "DIGEST_EDITORS": EDITORS,
        "DIGEST_EDITOR_LOGIN_LIMIT": "1000/minute",
        "DIGEST_SENDGRID_WEBHOOK_PUBLIC_KEY": PUBLIC_KEY,
        "DIGEST_TOPICS": "cardiology,nutrition",
    }


class Site:
    """The app with a sent issue, a draft, a reader, and what a genuine client of each route holds."""

    def __init__(self, parts: Parts, client: TestClient, sent: int, draft: int) -> None:
        assert isinstance(client.app, FastAPI)
        self.app = client.app
        self.client = client  # signed in as an editor whenever a genuine request needs it
        self.visitor = TestClient(client.app, base_url=BASE_URL)
        self.sent, self.draft = sent, draft
        with unit_of_work(parts.engine) as session:
            reader = session.exec(select(Subscriber).where(Subscriber.email == READER)).one()
        self.links = {
            str(purpose): parts.tokens.sign(purpose, reader.id or 0, reader.token_nonce)
            for purpose in Purpose
        }
        # /r/{token}: a tracked link of the sent issue.
        self.links["r"] = parts.click_tokens.sign(
            TrackedLink(sent, LinkKind.page, f"{BASE_URL}/issues/{sent}")
        )
        assert parts.api_tokens is not None
        self.api_token = parts.api_tokens.issue("ada")

    def signed_in(self) -> str:
        """The editor's session cookie, signing in again after a generated sign-out."""
        if not self.client.cookies.get(COOKIE):
            sign_in(self.client)
        return self.client.cookies.get(COOKIE) or ""

    def make_genuine(self, case: Case[Any]) -> dict[str, str]:
        """Swap the generated secrets of ``case`` for genuine ones; the headers to send with it."""
        parameters = case.path_parameters or {}
        if "token" in parameters:  # /confirm/{token}, /unsubscribe/{token}, /preferences/{token}...
            parameters["token"] = self.links[case.path.split("/")[1]]
        if "number" in parameters:
            parameters["number"] = self.draft if case.path.startswith("/editor") else self.sent
        headers = {"Authorization": f"Bearer {self.api_token}"}
        if case.path != "/editor/login":  # signed in, the sign-in page sends the editor on
            headers["Cookie"] = f"{COOKIE}={self.signed_in()}"
        if case.media_type == FORM and isinstance(case.body, dict):
            case.body["form_token"] = self.form_token(case)
        if case.path == "/webhooks/sendgrid":
            headers.update(signed(case))
        return headers

    def form_token(self, case: Case[Any]) -> str:
        """The token the form's own page holds, as a browser would send it back."""
        page_path = "/editor" if case.path == "/editor/logout" else case.formatted_path
        editing = case.path.startswith("/editor") and case.path != "/editor/login"
        page = (self.client if editing else self.visitor).get(page_path)
        found = FORM_TOKEN.search(page.text)
        return found.group(1) if found else ""


def signed(case: Case[Any]) -> dict[str, str]:
    """SendGrid's signature headers for the body of ``case``, which is fixed as the bytes signed."""
    raw = b"" if case.body is NOT_SET else case.body
    raw = case.body = raw if isinstance(raw, bytes) else json.dumps(raw).encode()
    stamp = str(int(time.time()))
    return {TIMESTAMP: stamp, SIGNATURE: sign(raw, stamp)}


@pytest.fixture
def site(parts: Parts, client: TestClient, digest: Digest, env: dict[str, str]) -> Site:
    digest("subscribers", "add", READER, "--confirmed")
    sent = send_issue(digest, env)
    draft = draft_issue(digest, env, first=3, count=3)
    return Site(parts, client, sent, draft)


def operations(site: Site) -> st.SearchStrategy[Case[Any]]:
    schema = schemathesis.openapi.from_dict(described(site.app))
    schema.app = site.app
    loaded = list(schema.get_all_operations())
    every = [result.ok() for result in loaded if isinstance(result, Ok)]
    assert len(every) == len(loaded), "every operation of the schema must load"
    return st.one_of([operation.as_strategy(mode) for operation in every for mode in GenerationMode])


def test_no_generated_request_gets_a_server_error(site: Site) -> None:
    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(case=operations(site), genuine=st.booleans())
    def request(case: Case[Any], genuine: bool) -> None:
        headers = site.make_genuine(case) if genuine else {}
        answer = case.call(base_url=BASE_URL, headers=headers)
        server_error = answer.status_code >= 500 and not (answer.status_code == 503 and case.path in HEALTH)
        assert not server_error, f"{case.as_curl_command(headers)}\n{answer.status_code} {answer.text[:500]}"

    request()
