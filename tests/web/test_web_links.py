"""The links in every email and the public archive, on SQLite and PostgreSQL.

A reader signs up and confirms through the web app, then a real issue is ingested, composed, approved and
sent with the ``digest`` command line; the tests follow the links of the email that lands in the outbox:
one-click unsubscribe (RFC 8058) from the ``List-Unsubscribe`` header in both encodings, the footer's
unsubscribe page, preferences (leave, rejoin, download, erase), CSRF on those forms, and ``/issues``.
"""

import json
import re
import time
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import httpx2
import pytest
from fastapi.testclient import TestClient
from itsdangerous import TimestampSigner

from digest.tokens import Purpose
from digest.wiring import Parts
from tests.support import parts_of
from tests.support.cli import Digest
from tests.support.web import (
    BASE_URL,
    RELAXED,
    TOKEN,
    button_count,
    confirmed,
    digests,
    draft_issue,
    erased_rows,
    form_token,
    is_suppressed,
    link_in,
    notices,
    one_click_url,
    path_of,
    preferences_action,
    send_issue,
    state_of,
    stored_emails,
    subject_has,
    subscribe_form,
    subscriber,
)

EMAIL = "reader@example.org"


@pytest.fixture
def overrides(request: pytest.FixtureRequest) -> dict[str, str]:
    return dict(getattr(request, "param", {}))


@pytest.fixture
def web_env(web_env: dict[str, str], overrides: dict[str, str]) -> dict[str, str]:
    return {**web_env, **RELAXED, **overrides}


@dataclass
class Reader:
    """A confirmed subscriber and the digest email they received."""

    email: str
    issue: int
    message: EmailMessage

    @property
    def unsubscribe(self) -> str:
        return path_of(link_in(self.message, "unsubscribe"))

    @property
    def preferences(self) -> str:
        return path_of(link_in(self.message, "preferences"))


@pytest.fixture
def reader(client: TestClient, outbox: Path, digest: Digest, env: dict[str, str]) -> Reader:
    confirmed(client, outbox, EMAIL)
    number = send_issue(digest, env)
    (message,) = digests(outbox, EMAIL)
    return Reader(EMAIL, number, message)


def assert_refused_link(response: httpx2.Response) -> None:
    assert response.status_code == 400, response.text
    assert "This link does not work" in response.text
    assert '<form method="post" action="/subscribe"' in response.text
    assert form_token(response)
    assert response.headers["referrer-policy"] == "no-referrer"


# --- one-click unsubscribe (RFC 8058) ----------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["form-urlencoded", "multipart"])
def test_one_click_unsubscribe_from_the_list_unsubscribe_header(
    client: TestClient, parts: Parts, reader: Reader, digest: Digest, env: dict[str, str], encoding: str
) -> None:
    url = one_click_url(reader.message)
    assert url.startswith(f"{BASE_URL}/unsubscribe/")
    assert url == link_in(reader.message, "unsubscribe")  # the footer link is the same URL

    # GET never unsubscribes (link scanners fetch every GET).
    for _ in range(2):
        assert client.get(url).status_code == 200
    assert client.head(url).status_code in (200, 405)
    assert state_of(parts.engine, EMAIL) == "active"

    def one_click() -> httpx2.Response:
        if encoding == "multipart":
            return client.post(url, files={"List-Unsubscribe": (None, "One-Click")})
        return client.post(url, data={"List-Unsubscribe": "One-Click"})

    assert not client.cookies
    answer = one_click()
    sent_as = answer.request.headers["content-type"]
    if encoding == "multipart":
        assert sent_as.startswith("multipart/form-data; boundary=")
        assert b'name="List-Unsubscribe"' in answer.request.read()
    else:
        assert sent_as == "application/x-www-form-urlencoded"
        assert answer.request.content == b"List-Unsubscribe=One-Click"
    assert "cookie" not in answer.request.headers
    assert answer.status_code == 200
    assert "location" not in answer.headers
    assert "set-cookie" not in answer.headers
    assert "You are unsubscribed" in answer.text
    assert state_of(parts.engine, EMAIL) == "unsubscribed"  # at once

    again = one_click()
    assert again.status_code == 200
    assert "location" not in again.headers
    assert state_of(parts.engine, EMAIL) == "unsubscribed"

    # The next issue does not reach them.
    send_issue(digest, env, first=10, count=1)
    assert len(digests(parts.settings.outbox_dir, EMAIL)) == 1


def test_one_click_with_an_empty_body_also_unsubscribes(
    client: TestClient, parts: Parts, reader: Reader
) -> None:
    answer = client.post(one_click_url(reader.message))
    assert answer.status_code == 200
    assert state_of(parts.engine, EMAIL) == "unsubscribed"


def test_footer_unsubscribe_page_has_one_button(client: TestClient, parts: Parts, reader: Reader) -> None:
    page = client.get(reader.unsubscribe)
    assert page.status_code == 200
    assert EMAIL in page.text
    assert button_count(page) == 1
    assert f'<form method="post" action="{reader.unsubscribe}">' in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    assert state_of(parts.engine, EMAIL) == "active"

    # The button posts the form as it is: no fields, no token.
    done = client.post(reader.unsubscribe, data={})
    assert done.status_code == 200
    assert "You are unsubscribed" in done.text
    assert state_of(parts.engine, EMAIL) == "unsubscribed"

    after = client.get(reader.unsubscribe)
    assert after.status_code == 200
    assert "You are unsubscribed" in after.text
    assert button_count(after) == 0


def test_unsubscribe_and_preferences_links_do_not_expire(
    client: TestClient, parts: Parts, outbox: Path, reader: Reader, monkeypatch: pytest.MonkeyPatch
) -> None:
    subscribe_form(client, "late@example.org")
    (confirmation,) = notices(outbox, "late@example.org")
    # Four hundred days later, for every itsdangerous check in this process:
    later = int(time.time()) + int(timedelta(days=400).total_seconds())
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: later)

    assert client.get(path_of(link_in(confirmation, "confirm"))).status_code == 410  # confirm links do
    assert client.get(reader.preferences).status_code == 200
    assert client.get(reader.unsubscribe).status_code == 200
    assert client.post(reader.unsubscribe, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert state_of(parts.engine, EMAIL) == "unsubscribed"


@pytest.mark.parametrize("case", ["confirm-token", "preferences-token", "tampered", "unknown", "garbage"])
def test_bad_unsubscribe_links_are_refused_without_a_500(
    client: TestClient, parts: Parts, outbox: Path, reader: Reader, case: str
) -> None:
    record = subscriber(parts.engine, EMAIL)
    assert record is not None
    assert record.id is not None
    token = reader.unsubscribe.removeprefix("/unsubscribe/")
    if case == "confirm-token":
        # The very link of the confirmation email: a confirm token cannot unsubscribe.
        (confirmation,) = [m for m in notices(outbox, EMAIL) if subject_has(m, "confirm your")]
        token = path_of(link_in(confirmation, "confirm")).removeprefix("/confirm/")
    elif case == "preferences-token":
        token = reader.preferences.removeprefix("/preferences/")
    elif case == "tampered":
        position = len(token) - 10
        token = token[:position] + ("A" if token[position] != "A" else "B") + token[position + 1 :]
    elif case == "unknown":
        token = parts.tokens.sign(Purpose.unsubscribe, record.id + 1000, record.token_nonce)
    else:
        token = "garbage"

    assert_refused_link(client.get(f"/unsubscribe/{token}"))
    assert_refused_link(client.post(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"}))
    assert state_of(parts.engine, EMAIL) == "active"


# --- preferences -------------------------------------------------------------------------------------


def test_preferences_leave_rejoin_and_download(client: TestClient, parts: Parts, reader: Reader) -> None:
    page = client.get(reader.preferences)
    assert page.status_code == 200
    assert EMAIL in page.text
    assert "the weekly Research Digest" in page.text
    assert 'value="leave"' in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-store"
    assert f'href="{reader.preferences}/data"' in page.text

    left = preferences_action(client, reader.preferences, "leave")
    assert left.status_code == 200
    assert "You are unsubscribed" in left.text
    assert "nothing: you are not subscribed" in left.text
    assert 'value="rejoin"' in left.text
    assert state_of(parts.engine, EMAIL) == "unsubscribed"

    back = preferences_action(client, reader.preferences, "rejoin")
    assert back.status_code == 200
    assert "Welcome back" in back.text
    assert "the weekly Research Digest" in back.text
    assert state_of(parts.engine, EMAIL) == "active"

    download = client.get(f"{reader.preferences}/data")
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("application/json")
    assert download.headers["content-disposition"].startswith("attachment")
    assert download.headers["referrer-policy"] == "no-referrer"
    data = download.json()
    assert data["email"] == EMAIL
    assert data["state"] == "active"
    assert data["confirmed_at"]
    consent = data["consent"]
    assert consent["at"]
    assert consent["ip"] == "testclient"
    assert consent["user_agent"] == "testclient"
    assert consent["form"] == "web form"
    assert consent["consent_text_version"] == parts.settings.consent_text_version
    (delivery,) = data["deliveries"]
    assert delivery["issue"] == reader.issue
    assert delivery["status"] == "sent"
    assert delivery["sent_at"]


def test_erasure_needs_the_box_then_forgets_the_address(
    client: TestClient, parts: Parts, outbox: Path, reader: Reader, digest: Digest
) -> None:
    unticked = preferences_action(client, reader.preferences, "erase")
    assert unticked.status_code == 200
    assert "Tick the box to confirm the erasure." in unticked.text
    assert state_of(parts.engine, EMAIL) == "active"

    erased = preferences_action(client, reader.preferences, "erase", confirm="yes")
    assert erased.status_code == 200
    assert "Your data is erased" in erased.text
    assert subscriber(parts.engine, EMAIL) is None
    assert not any("reader" in email.casefold() for email in stored_emails(parts.engine))
    (row,) = erased_rows(parts.engine)  # kept for the delivery ledger, with nothing personal in it
    assert row.email.endswith("@invalid")
    assert (row.consent_ip, row.consent_user_agent, row.consent_at, row.consent_form) == (None,) * 4
    assert row.state == "unsubscribed"
    assert is_suppressed(parts.engine, EMAIL)

    # Every link the reader was sent stops working.
    for response in (
        client.get(reader.unsubscribe),
        client.post(reader.unsubscribe, data={"List-Unsubscribe": "One-Click"}),
        client.get(reader.preferences),
        client.get(f"{reader.preferences}/data"),
        client.post(reader.preferences, data={"action": "rejoin", "form_token": form_token(unticked)}),
    ):
        assert response.status_code == 400, response.text
        assert EMAIL not in response.text

    refused = digest("subscribers", "add", EMAIL, "--confirmed", ok=False)
    assert refused.exit_code == 1
    assert "erased" in refused.stderr
    assert subscriber(parts.engine, EMAIL) is None

    # Signing up and confirming again works and lifts the suppression.
    welcome = confirmed(client, outbox, EMAIL)
    assert state_of(parts.engine, EMAIL) == "active"
    assert not is_suppressed(parts.engine, EMAIL)
    assert client.get(path_of(link_in(welcome, "preferences"))).status_code == 200


def test_erased_reader_gets_no_further_issue(
    client: TestClient, parts: Parts, reader: Reader, digest: Digest, env: dict[str, str]
) -> None:
    preferences_action(client, reader.preferences, "erase", confirm="yes")
    send_issue(digest, env, first=10, count=1)
    assert len(digests(parts.settings.outbox_dir)) == 1


@pytest.mark.parametrize("case", ["missing", "forged", "subscribe-form"])
@pytest.mark.parametrize("action", ["leave", "erase"])
def test_preferences_forms_need_a_valid_form_token(
    client: TestClient, parts: Parts, reader: Reader, case: str, action: str
) -> None:
    fields = {"action": action, "confirm": "yes"}
    if case == "forged":
        fields["form_token"] = "forged.token"
    elif case == "subscribe-form":
        fields["form_token"] = form_token(client.get("/subscribe"))
    answer = client.post(reader.preferences, data=fields)
    assert answer.status_code == 400
    assert "reload" in answer.text
    assert state_of(parts.engine, EMAIL) == "active"
    assert not is_suppressed(parts.engine, EMAIL)


def test_preferences_rejects_other_purposes(client: TestClient, parts: Parts, reader: Reader) -> None:
    token = reader.unsubscribe.removeprefix("/unsubscribe/")
    assert_refused_link(client.get(f"/preferences/{token}"))
    assert client.get(f"/preferences/{token}/data").status_code == 400


# --- the archive -------------------------------------------------------------------------------------


def test_archive_lists_sent_issues_without_personal_links(
    client: TestClient, parts: Parts, reader: Reader, digest: Digest, env: dict[str, str]
) -> None:
    draft = draft_issue(digest, env, first=20)
    assert draft == reader.issue + 1

    listing = client.get("/issues")
    assert listing.status_code == 200
    assert f'href="{BASE_URL}/issues/{reader.issue}"' in listing.text
    assert f"/issues/{draft}" not in listing.text
    assert "content-security-policy" in listing.headers

    page = client.get(f"/issues/{reader.issue}")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "Plain headline number 1" in page.text
    assert "The key takeaway of study 2." in page.text
    assert not re.search(rf"/unsubscribe/{TOKEN}", page.text)
    assert not re.search(rf"/preferences/{TOKEN}", page.text)
    assert "__DIGEST_" not in page.text
    assert reader.unsubscribe not in page.text
    assert "content-security-policy" in page.headers
    assert page.headers["referrer-policy"] == "no-referrer"
    # The archive is a page for anyone: the reader's links are in their email only, and none stands in.
    _, html = parts_of(reader.message)
    assert reader.unsubscribe in html
    assert "/unsubscribe" not in page.text
    assert "/preferences" not in page.text
    general = client.get("/unsubscribe")
    assert general.status_code == 200
    assert "Use the link in your email" in general.text

    for missing in (draft, 99):
        absent = client.get(f"/issues/{missing}")
        assert absent.status_code == 404
        assert "Plain headline" not in absent.text
    digest("approve", str(draft))  # approved but not sent: still not public
    assert client.get(f"/issues/{draft}").status_code == 404
    assert f"/issues/{draft}" not in client.get("/issues").text


def test_empty_archive(client: TestClient) -> None:
    listing = client.get("/issues")
    assert listing.status_code == 200
    assert "No issue has been published yet." in listing.text
    for number in ("1", "0", "-1", "2147483648", "99999999999999999999999"):
        assert client.get(f"/issues/{number}").status_code == 404, number
    for not_a_number in ("first", "abc", "1.5", "%00"):
        page = client.get(f"/issues/{not_a_number}")
        assert (page.status_code, page.headers["content-type"]) == (404, "text/html; charset=utf-8")
        assert "There is nothing at this address." in page.text


# --- headers on every page that carries a token ------------------------------------------------------


def test_token_pages_send_no_referrer(client: TestClient, outbox: Path, reader: Reader) -> None:
    subscribe_form(client, "other@example.org")
    (confirmation,) = notices(outbox, "other@example.org")
    pages: list[httpx2.Response] = [
        client.get(path_of(link_in(confirmation, "confirm"))),
        client.get(reader.unsubscribe),
        client.get(reader.preferences),
        preferences_action(client, reader.preferences, "none"),
        client.get(f"{reader.preferences}/data"),
        client.get("/confirm/garbage"),
        client.post(reader.unsubscribe),
    ]
    for page in pages:
        assert page.status_code in (200, 400), page.text
        assert page.headers["referrer-policy"] == "no-referrer"
        assert page.headers["cache-control"] == "no-store"
        if page.headers["content-type"].startswith("text/html"):
            assert "default-src 'none'" in page.headers["content-security-policy"]
            assert '<meta name="referrer" content="no-referrer">' in page.text
        else:
            json.loads(page.text)
