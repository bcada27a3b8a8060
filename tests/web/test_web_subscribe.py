"""``/subscribe`` and ``/confirm/{token}`` as a person (and a bot) meets them, on SQLite and PostgreSQL.

Double opt-in through the HTML form and the JSON API, the emails it sends, the self-submitting confirm
page, the no-enumeration rule (responses compared byte for byte once per-request values are masked),
the resend windows, every kind of bad confirm link, CSRF on the form, honeypot, fill time, rate limits.
"""

import hashlib
import re
from datetime import timedelta
from pathlib import Path

import httpx2
import pytest
from fastapi.testclient import TestClient
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import Engine, func
from sqlmodel import select

from digest.core.clock import utc_now
from digest.db.engine import unit_of_work
from digest.db.models import UsedFormToken
from digest.subscribers.challenges import spend_form_token
from digest.tokens import Purpose
from digest.web.app import create_app
from digest.wiring import Parts
from tests.support import parts_of
from tests.support.cli import Digest
from tests.support.web import (
    BASE_URL,
    RELAXED,
    backdate,
    confirmed,
    form_token,
    link_in,
    links_in,
    masked,
    notices,
    old_token,
    path_of,
    preferences_action,
    send_issue,
    state_of,
    subject_has,
    subscribe_form,
    subscribe_json,
    subscriber,
    subscriber_count,
)

CHECK_INBOX = "Check your inbox"


@pytest.fixture
def overrides(request: pytest.FixtureRequest) -> dict[str, str]:
    """Settings of one test, given with ``@pytest.mark.parametrize("overrides", [...], indirect=True)``."""
    return dict(getattr(request, "param", {}))


@pytest.fixture
def web_env(web_env: dict[str, str], overrides: dict[str, str]) -> dict[str, str]:
    return {**web_env, **RELAXED, **overrides}


def confirmations(outbox: Path, email: str) -> list[str]:
    """The confirm links sent to ``email``."""
    return [
        link_in(message, "confirm")
        for message in notices(outbox, email)
        if subject_has(message, "confirm your subscription")
    ]


def already_notices(outbox: Path, email: str) -> int:
    return sum(subject_has(message, "already subscribed") for message in notices(outbox, email))


def assert_link_problem(response: httpx2.Response, status: int) -> None:
    """A clear page with a way to ask for a new link, never a 500."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "content-security-policy" in response.headers
    text = response.text
    assert ("This link has expired" if status == 410 else "This link does not work") in text
    assert '<form method="post" action="/subscribe"' in text
    assert 'name="email"' in text
    assert form_token(response)
    assert "Send me a new link" in text


# --- the happy path ----------------------------------------------------------------------------------


def test_subscribe_by_form_confirm_by_self_submitting_page(
    client: TestClient, parts: Parts, outbox: Path
) -> None:
    form = client.get("/subscribe")
    assert form.status_code == 200
    assert parts.settings.consent_text in form.text
    assert 'name="consent" value="yes"' in form.text
    assert 'name="website"' in form.text  # the honeypot

    answer = client.post(
        "/subscribe",
        data={"form_token": form_token(form), "email": "Ada@Example.org", "consent": "yes", "website": ""},
        headers={"user-agent": "Firefox/140 (test)"},
    )
    assert answer.status_code == 200
    assert CHECK_INBOX in answer.text
    assert state_of(parts.engine, "ada@example.org") == "pending"

    (confirmation,) = notices(outbox)
    assert confirmation["To"] == "Ada@example.org"
    assert subject_has(confirmation, "confirm your subscription")
    plain, html = parts_of(confirmation)  # multipart/alternative, text first
    link = link_in(confirmation, "confirm")
    assert link in plain
    assert f'href="{link}"' in html
    assert "The link works for 7 days." in plain

    # Fetching the link (as a mail scanner does) confirms nobody: it serves a page that POSTs itself.
    page = client.get(path_of(link))
    assert page.status_code == 200
    assert state_of(parts.engine, "ada@example.org") == "pending"
    assert f'<form method="post" action="{path_of(link)}" id="confirm">' in page.text
    nonce = re.search(r"script-src 'nonce-([^']+)'", page.headers["content-security-policy"])
    assert nonce
    assert f'<script nonce="{nonce.group(1)}">document.getElementById("confirm").submit();</script>' in (
        page.text
    )
    assert "<noscript>" in page.text  # a button for people without JavaScript
    assert page.headers["referrer-policy"] == "no-referrer"
    assert len(notices(outbox)) == 1

    done = client.post(path_of(link))
    assert done.status_code == 200
    assert "You are subscribed" in done.text
    assert state_of(parts.engine, "ada@example.org") == "active"
    found = subscriber(parts.engine, "ada@example.org")
    assert found is not None
    assert found.confirmed_at is not None
    assert found.consent_form == "web form"
    assert found.consent_user_agent == "Firefox/140 (test)"
    assert found.consent_text_version == parts.settings.consent_text_version

    assert len(notices(outbox)) == 2
    (welcome,) = [message for message in notices(outbox) if subject_has(message, "welcome")]
    assert subject_has(welcome, "welcome")
    plain, html = parts_of(welcome)
    assert f"{BASE_URL}/issues" in plain  # no issue yet: the archive's index
    assert f'href="{BASE_URL}/issues"' in html
    preferences = link_in(welcome, "preferences")
    shown = client.get(path_of(preferences))
    assert shown.status_code == 200
    assert "Ada@example.org" in shown.text

    # Confirming twice is harmless: no error, no second welcome, still active.
    again = client.post(path_of(link))
    assert again.status_code == 200
    assert "You are subscribed" in again.text
    revisit = client.get(path_of(link))
    assert revisit.status_code == 200
    assert "You are subscribed" in revisit.text
    assert state_of(parts.engine, "ada@example.org") == "active"
    assert len(notices(outbox)) == 2


def test_subscribe_by_json(client: TestClient, parts: Parts, outbox: Path) -> None:
    answer = subscribe_json(client, "bob@example.org")
    assert answer.status_code == 202
    assert answer.json()["status"] == "check-your-inbox"
    assert state_of(parts.engine, "bob@example.org") == "pending"
    (link,) = confirmations(outbox, "bob@example.org")

    assert client.post(path_of(link)).status_code == 200
    assert state_of(parts.engine, "bob@example.org") == "active"
    found = subscriber(parts.engine, "bob@example.org")
    assert found is not None
    assert found.consent_form == "JSON API"
    assert sorted(subject_has(message, "welcome") for message in notices(outbox)) == [False, True]


def test_welcome_links_the_latest_issue(
    client: TestClient, parts: Parts, outbox: Path, digest: Digest, env: dict[str, str]
) -> None:
    number = send_issue(digest, env)
    welcome = confirmed(client, outbox, "cy@example.org")
    plain, _ = parts_of(welcome)
    assert f"{BASE_URL}/issues/{number}" in plain
    assert client.get(f"/issues/{number}").status_code == 200


@pytest.mark.parametrize(
    ("email", "consent", "problem"),
    [
        ("dee@example.org", False, "tick the box"),
        ("not-an-address", True, "valid email address"),
        ("dee@", True, "valid email address"),
    ],
)
def test_form_refuses_missing_consent_and_bad_addresses(
    client: TestClient, parts: Parts, outbox: Path, email: str, consent: bool, problem: str
) -> None:
    answer = subscribe_form(client, email, consent=consent)
    assert answer.status_code == 400
    assert problem in answer.text.lower()
    assert f'value="{email}"' in answer.text  # the form comes back filled in
    assert form_token(answer)
    json_answer = subscribe_json(client, email, consent=consent)
    assert json_answer.status_code == 422
    assert "error" in json_answer.json()
    assert subscriber_count(parts.engine) == 0
    assert notices(outbox) == []


def test_prefilled_address_is_escaped(client: TestClient) -> None:
    page = client.get("/subscribe", params={"email": '"><script>alert(1)</script>'})
    assert page.status_code == 200
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;" in page.text


def test_json_api_refuses_malformed_bodies(client: TestClient, parts: Parts) -> None:
    bodies: list[object] = [{}, [], {"email": 5, "consent": True}, {"consent": True}]
    for body in bodies:
        answer = client.post("/subscribe", json=body)
        assert answer.status_code == 422, body
    for raw in (b"null", b"{not json", b"\xff\xfe"):
        answer = client.post("/subscribe", content=raw, headers={"content-type": "application/json"})
        assert answer.status_code == 422, raw
    assert subscriber_count(parts.engine) == 0


# --- no enumeration ----------------------------------------------------------------------------------


def test_signup_answers_alike_for_new_pending_active_and_unsubscribed(
    client: TestClient, parts: Parts, outbox: Path
) -> None:
    engine = parts.engine
    subscribe_form(client, "pending@example.org")
    confirmed(client, outbox, "active@example.org")
    welcome = confirmed(client, outbox, "left@example.org")
    left = preferences_action(client, path_of(link_in(welcome, "preferences")), "leave")
    assert left.status_code == 200
    assert state_of(engine, "left@example.org") == "unsubscribed"
    before = {
        address: len(notices(outbox, address))
        for address in ("pending@example.org", "active@example.org", "left@example.org")
    }

    addresses = ["new@example.org", "pending@example.org", "active@example.org", "left@example.org"]
    forms = [masked(subscribe_form(client, address)) for address in addresses]
    apis = [masked(subscribe_json(client, address)) for address in addresses]
    assert forms[0][0] == 200
    assert CHECK_INBOX in forms[0][1]
    assert all(answer == forms[0] for answer in forms), "the form's answer depends on the address"
    assert apis[0][0] == 202
    assert all(answer == apis[0] for answer in apis), "the JSON answer depends on the address"

    # What differs happens only in the inboxes.
    assert state_of(engine, "new@example.org") == "pending"
    assert len(confirmations(outbox, "new@example.org")) == 1  # form and JSON: one confirmation

    assert state_of(engine, "pending@example.org") == "pending"
    assert len(notices(outbox, "pending@example.org")) == before["pending@example.org"]  # within window

    assert state_of(engine, "active@example.org") == "active"  # never downgraded
    assert already_notices(outbox, "active@example.org") == 1  # at most one per window
    assert len(notices(outbox, "active@example.org")) == before["active@example.org"] + 1

    # An unsubscribed address must confirm again.
    assert state_of(engine, "left@example.org") == "pending"
    links = confirmations(outbox, "left@example.org")
    assert len(links) == 2
    assert len(notices(outbox, "left@example.org")) == before["left@example.org"] + 1
    # (Links signed in the same second are the same link; either confirms.)
    assert client.post(path_of(links[0])).status_code == 200
    assert state_of(engine, "left@example.org") == "active"


@pytest.mark.parametrize(
    ("overrides", "inside", "outside"),
    [
        ({}, timedelta(minutes=9), timedelta(minutes=11)),
        ({"DIGEST_CONFIRM_RESEND_WINDOW": "1h"}, timedelta(minutes=30), timedelta(minutes=61)),
    ],
    indirect=["overrides"],
    ids=["default-10m", "window-1h"],
)
def test_pending_address_gets_the_confirmation_again_once_per_window(
    client: TestClient, parts: Parts, outbox: Path, inside: timedelta, outside: timedelta
) -> None:
    email = "pat@example.org"
    subscribe_form(client, email)
    subscribe_form(client, email)
    subscribe_json(client, email)
    (first,) = confirmations(outbox, email)

    backdate(parts.engine, email, confirmation_sent_at=inside)
    subscribe_json(client, email)
    assert len(confirmations(outbox, email)) == 1

    backdate(parts.engine, email, confirmation_sent_at=outside)
    subscribe_form(client, email)
    subscribe_form(client, email)
    links = confirmations(outbox, email)
    assert len(links) == 2
    assert state_of(parts.engine, email) == "pending"
    assert client.post(path_of(first)).status_code == 200  # the first link still works
    assert state_of(parts.engine, email) == "active"


def test_active_address_gets_one_notice_per_window_and_stays_active(
    client: TestClient, parts: Parts, outbox: Path
) -> None:
    email = "ann@example.org"
    confirmed(client, outbox, email)
    record = subscriber(parts.engine, email)
    assert record is not None
    for _ in range(3):
        subscribe_form(client, email)
        subscribe_json(client, email)
    assert already_notices(outbox, email) == 1
    (notice,) = [message for message in notices(outbox, email) if subject_has(message, "already")]
    parts_of(notice)
    assert link_in(notice, "preferences")
    assert links_in(notice, "confirm") == []  # no way to re-confirm (or be downgraded) from here

    backdate(parts.engine, email, notice_sent_at=timedelta(minutes=11))
    subscribe_json(client, email)
    assert already_notices(outbox, email) == 2
    after = subscriber(parts.engine, email)
    assert after is not None
    assert after.state == "active"
    assert after.confirmed_at == record.confirmed_at
    assert after.consent_form == "web form"  # the consent record is not overwritten by the API call


# --- bad confirm links -------------------------------------------------------------------------------


BAD_LINKS = ["expired", "tampered", "unsubscribe-token", "preferences-token"]
BAD_LINKS += ["unknown-subscriber", "garbage", "erased"]


@pytest.mark.parametrize("case", BAD_LINKS)
def test_bad_confirm_links_get_a_clear_page_and_a_new_link_form(
    client: TestClient,
    parts: Parts,
    outbox: Path,
    digest: Digest,
    case: str,
) -> None:
    email = "eve@example.org"
    subscribe_form(client, email)
    (link,) = confirmations(outbox, email)
    token = path_of(link).removeprefix("/confirm/")
    record = subscriber(parts.engine, email)
    assert record is not None
    assert record.id is not None
    claims = [record.id, record.token_nonce]
    keys = parts.settings.signing_keys
    status = 400
    if case == "expired":
        token = old_token(keys, "confirm", claims, timedelta(days=7, minutes=1))
        status = 410
    elif case == "tampered":
        position = len(token) - 10
        token = token[:position] + ("A" if token[position] != "A" else "B") + token[position + 1 :]
    elif case == "unsubscribe-token":
        token = parts.tokens.sign(Purpose.unsubscribe, record.id, record.token_nonce)
    elif case == "preferences-token":
        token = parts.tokens.sign(Purpose.preferences, record.id, record.token_nonce)
    elif case == "unknown-subscriber":
        token = parts.tokens.sign(Purpose.confirm, record.id + 1000, record.token_nonce)
    elif case == "garbage":
        token = "not-a-token"
    elif case == "erased":
        digest("subscribers", "erase", email)

    assert_link_problem(client.get(f"/confirm/{token}"), status)
    assert_link_problem(client.post(f"/confirm/{token}"), status)
    if case != "erased":
        assert state_of(parts.engine, email) == "pending"
    assert [subject_has(message, "welcome") for message in notices(outbox)] == [False]

    if case == "expired":
        # The page's own form asks for a new link, which arrives and works.
        backdate_and_ask_again(client, parts, outbox, email, client.get(f"/confirm/{token}"))


@pytest.mark.parametrize("overrides", [{"DIGEST_CONFIRM_MAX_AGE": "1d"}], indirect=True, ids=["max-age-1d"])
def test_confirm_max_age_setting(client: TestClient, parts: Parts, outbox: Path) -> None:
    email = "gus@example.org"
    subscribe_form(client, email)
    record = subscriber(parts.engine, email)
    assert record is not None
    claims = [record.id, record.token_nonce]
    keys = parts.settings.signing_keys
    assert len(confirmations(outbox, email)) == 1
    assert "The link works for 1 day." in parts_of(notices(outbox)[0])[0]

    day_old = old_token(keys, "confirm", claims, timedelta(days=1, minutes=1))
    assert_link_problem(client.get(f"/confirm/{day_old}"), 410)
    assert_link_problem(client.post(f"/confirm/{day_old}"), 410)
    assert state_of(parts.engine, email) == "pending"

    fresh = old_token(keys, "confirm", claims, timedelta(hours=23))
    assert client.post(f"/confirm/{fresh}").status_code == 200
    assert state_of(parts.engine, email) == "active"


def backdate_and_ask_again(
    client: TestClient, parts: Parts, outbox: Path, email: str, problem_page: httpx2.Response
) -> None:
    backdate(parts.engine, email, confirmation_sent_at=timedelta(days=7, minutes=2))
    answer = client.post(
        "/subscribe",
        data={"form_token": form_token(problem_page), "email": email, "consent": "yes", "website": ""},
    )
    assert answer.status_code == 200
    assert CHECK_INBOX in answer.text
    links = confirmations(outbox, email)
    assert len(links) == 2
    assert client.post(path_of(links[0])).status_code == 200
    assert state_of(parts.engine, email) == "active"


def test_old_confirm_link_cannot_bring_back_someone_who_left(
    client: TestClient, parts: Parts, outbox: Path
) -> None:
    email = "fay@example.org"
    welcome = confirmed(client, outbox, email)
    (link,) = confirmations(outbox, email)
    preferences_action(client, path_of(link_in(welcome, "preferences")), "leave")
    assert state_of(parts.engine, email) == "unsubscribed"

    assert_link_problem(client.post(path_of(link)), 400)
    assert state_of(parts.engine, email) == "unsubscribed"


# --- CSRF --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["missing", "forged", "preferences-form", "other-key", "too-old"])
def test_form_post_without_a_valid_form_token_is_refused(
    client: TestClient, parts: Parts, outbox: Path, case: str
) -> None:
    welcome = confirmed(client, outbox, "owner@example.org")
    sent = len(notices(outbox))
    count = subscriber_count(parts.engine)
    fields = {"email": "victim@example.org", "consent": "yes", "website": ""}
    if case == "forged":
        fields["form_token"] = "eyJzdWJzY3JpYmUi.forged.token"
    elif case == "preferences-form":
        fields["form_token"] = form_token(client.get(path_of(link_in(welcome, "preferences"))))
    elif case == "other-key":
        fields["form_token"] = URLSafeTimedSerializer(
            ["some-other-site-key"], salt="digest.form", signer_kwargs={"digest_method": hashlib.sha256}
        ).dumps("subscribe")
    elif case == "too-old":
        fields["form_token"] = old_token(
            parts.settings.signing_keys, "form", "subscribe", timedelta(hours=13)
        )

    answer = client.post("/subscribe", data=fields)
    assert answer.status_code == 400
    assert "reload" in answer.text
    assert form_token(answer)  # a fresh form to try again
    assert subscriber_count(parts.engine) == count
    assert state_of(parts.engine, "victim@example.org") is None
    assert len(notices(outbox)) == sent


def test_a_form_token_makes_one_sign_up(client: TestClient, parts: Parts, outbox: Path) -> None:
    """One form served, then posted again and again with other addresses once past its fill time."""
    token = form_token(client.get("/subscribe"))

    def post(app: TestClient, email: str, token: str = token) -> httpx2.Response:
        return app.post(
            "/subscribe", data={"form_token": token, "email": email, "consent": "yes", "website": ""}
        )

    assert CHECK_INBOX in post(client, "one@example.org").text
    replays = [post(client, email) for email in ("two@example.org", "three@example.org", "one@example.org")]
    with TestClient(create_app(parts), base_url=BASE_URL) as other_process:
        replays.append(post(other_process, "four@example.org"))

    too_old = old_token(parts.settings.signing_keys, "form", "subscribe", timedelta(hours=13))
    expired = post(client, "two@example.org", too_old)
    assert expired.status_code == 400
    assert [replay.status_code for replay in replays] == [400] * 4
    assert masked(replays[0]) == masked(expired)  # a replay is told what an expired form is told
    assert subscriber_count(parts.engine) == 1
    assert len(notices(outbox)) == 1
    # The refusal carries a fresh form, and that one works.
    assert CHECK_INBOX in post(client, "two@example.org", form_token(replays[0])).text
    assert state_of(parts.engine, "two@example.org") == "pending"


def test_forms_served_in_the_same_second_each_make_their_own_sign_up(
    client: TestClient, parts: Parts
) -> None:
    tokens = [form_token(client.get("/subscribe")) for _ in range(3)]
    assert len(set(tokens)) == 3
    for number, token in enumerate(tokens):
        fields = {"form_token": token, "email": f"p{number}@example.org", "consent": "yes", "website": ""}
        assert CHECK_INBOX in client.post("/subscribe", data=fields).text
    assert subscriber_count(parts.engine) == 3


def test_spent_form_tokens_are_kept_only_until_they_expire(engine: Engine) -> None:
    now = utc_now()
    assert spend_form_token(engine, "first", now=now, lifetime=timedelta(hours=12))
    assert not spend_form_token(engine, "first", now=now + timedelta(hours=11), lifetime=timedelta(hours=12))
    assert spend_form_token(engine, "second", now=now + timedelta(hours=13), lifetime=timedelta(hours=12))
    with unit_of_work(engine) as session:
        assert session.exec(select(func.count()).select_from(UsedFormToken)).one() == 1


# --- abuse -------------------------------------------------------------------------------------------


def test_honeypot_gets_the_same_page_and_nothing_happens(
    client: TestClient, parts: Parts, outbox: Path
) -> None:
    genuine = masked(subscribe_form(client, "real@example.org"))
    assert len(notices(outbox)) == 1

    bot = subscribe_form(client, "target@example.org", website="https://spam.example.com")
    assert masked(bot) == genuine
    assert state_of(parts.engine, "target@example.org") is None
    assert subscriber_count(parts.engine) == 1
    assert len(notices(outbox)) == 1


@pytest.mark.parametrize("overrides", [{"DIGEST_MIN_FILL_TIME": "1h"}], indirect=True, ids=["fill-1h"])
def test_form_sent_faster_than_a_person_gets_the_same_page_and_nothing_happens(
    client: TestClient, parts: Parts, outbox: Path
) -> None:
    fast = subscribe_form(client, "target@example.org")
    assert state_of(parts.engine, "target@example.org") is None
    assert notices(outbox) == []

    # A form served two hours ago (a person who took their time) goes through, with the same answer.
    token = old_token(parts.settings.signing_keys, "form", "subscribe", timedelta(hours=2))
    slow = client.post(
        "/subscribe",
        data={"form_token": token, "email": "person@example.org", "consent": "yes", "website": ""},
    )
    assert masked(fast) == masked(slow)
    assert CHECK_INBOX in slow.text
    assert state_of(parts.engine, "person@example.org") == "pending"
    assert len(notices(outbox)) == 1
    assert subscriber_count(parts.engine) == 1


@pytest.mark.parametrize("overrides", [{"DIGEST_RATE_LIMIT_IP": "3/minute"}], indirect=True, ids=["ip-3"])
@pytest.mark.parametrize("entry", ["form", "json"])
def test_per_ip_rate_limit(client: TestClient, parts: Parts, outbox: Path, entry: str) -> None:
    def sign_up(address: str) -> httpx2.Response:
        return subscribe_form(client, address) if entry == "form" else subscribe_json(client, address)

    for number in range(3):
        assert sign_up(f"user{number}@example.org").status_code in (200, 202)
    refused = sign_up("user3@example.org")
    assert refused.status_code == 429
    assert refused.headers["retry-after"]
    if entry == "json":
        assert "too many requests" in refused.json()["error"]
    else:
        assert "too many requests" in refused.text
        assert refused.headers["content-type"].startswith("text/html")
    assert state_of(parts.engine, "user3@example.org") is None
    assert len(notices(outbox)) == 3
    # The form and the API share the budget.
    assert subscribe_json(client, "user4@example.org").status_code == 429
    assert subscribe_form(client, "user5@example.org").status_code == 429
    assert subscriber_count(parts.engine) == 3


@pytest.mark.parametrize(
    "overrides", [{"DIGEST_RATE_LIMIT_ADDRESS": "2/hour"}], indirect=True, ids=["address-2"]
)
def test_per_address_rate_limit(client: TestClient, parts: Parts, outbox: Path) -> None:
    assert subscribe_form(client, "kim@example.org").status_code == 200
    assert subscribe_json(client, "KIM@Example.org").status_code == 202  # the same address, any case
    assert subscribe_form(client, "kim@example.org").status_code == 429
    refused = subscribe_json(client, "Kim@example.org")
    assert refused.status_code == 429
    assert "this address" in refused.json()["error"]
    # Other addresses are not held up.
    assert subscribe_form(client, "lee@example.org").status_code == 200
    assert subscribe_json(client, "max@example.org").status_code == 202
    assert len(confirmations(outbox, "kim@example.org")) == 1


# --- headers -----------------------------------------------------------------------------------------


def test_pages_carry_a_strict_content_security_policy(client: TestClient, outbox: Path) -> None:
    form = client.get("/subscribe")
    answer = subscribe_form(client, "sec@example.org")
    (link,) = confirmations(outbox, "sec@example.org")
    confirm_page = client.get(path_of(link))
    for page in (form, answer, confirm_page, client.get("/issues"), client.get("/no-such-page")):
        policy = page.headers["content-security-policy"]
        assert "default-src 'none'" in policy
        assert "frame-ancestors 'none'" in policy
        assert "form-action 'self'" in policy
        assert "'unsafe-inline'" not in policy
        assert page.headers["x-content-type-options"] == "nosniff"
    assert confirm_page.headers["referrer-policy"] == "no-referrer"
    assert confirm_page.headers["cache-control"] == "no-store"
    assert "<script" not in form.text  # the form works without JavaScript
    assert "set-cookie" not in answer.headers
