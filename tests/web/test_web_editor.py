"""The editor's pages, request by request, on SQLite and PostgreSQL: sign-in, refusals, decisions with
their audit trail, edits that re-render at once, test sends, and the warnings shown before approving."""

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import col, select

from digest.db.engine import unit_of_work
from digest.db.models import Delivery, EditorialAction, Issue, IssueItem, Summary
from digest.errors import ConfigError
from digest.issues import decisions as issues
from digest.issues.queries import get_issue
from digest.web.app import create_app
from digest.wiring import Parts
from tests.support import read_outbox
from tests.support.cli import Digest
from tests.support.editor import EDITORS, OTHER_PASSWORD, PASSWORD, act, order_on, sign_in, token_on
from tests.support.web import BASE_URL, draft_issue


@pytest.fixture
def web_env(web_env: dict[str, str]) -> dict[str, str]:
    return {**web_env, "DIGEST_EDITORS": EDITORS, "DIGEST_EDITOR_LOGIN_LIMIT": "4/minute"}


@pytest.fixture
def issue(engine: Engine, digest: Digest, env: dict[str, str]) -> int:
    """A draft issue of three items."""
    return draft_issue(digest, env, first=1, count=3)


def stored(engine: Engine, number: int) -> Issue:
    with unit_of_work(engine) as session:
        return get_issue(session, number)


def trail(engine: Engine, number: int) -> list[tuple[str, str]]:
    with unit_of_work(engine) as session:
        rows = session.exec(
            select(EditorialAction)
            .where(EditorialAction.issue_number == number)
            .order_by(col(EditorialAction.id))
        )
        return [(row.actor, row.action) for row in rows]


def item_titles(engine: Engine, number: int) -> list[str]:
    with unit_of_work(engine) as session:
        rows = session.exec(
            select(Summary.title)
            .join(IssueItem, col(IssueItem.summary_id) == col(Summary.id))
            .join(Issue, col(Issue.id) == col(IssueItem.issue_id))
            .where(Issue.number == number)
            .order_by(col(IssueItem.position))
        )
        return list(rows)


# --- signing in and refusals -------------------------------------------------------------------------


def test_every_editor_route_needs_a_session(client: TestClient, issue: int, engine: Engine) -> None:
    for path in ("/editor", f"/editor/issues/{issue}", f"/editor/issues/{issue}/email.html"):
        answer = client.get(path)
        assert answer.status_code == 303, path
        assert answer.headers["location"] == "/editor/login"
    for path in (f"/editor/issues/{issue}", "/editor/logout"):
        assert client.post(path, data={"action": "approve"}).status_code == 401
    assert stored(engine, issue).status == "draft"


def test_sign_in_with_the_right_password_only(client: TestClient, issue: int) -> None:
    wrong = sign_in(client, password="not it")
    assert wrong.status_code == 401
    assert "do not match" in wrong.text
    unknown = sign_in(client, name="eve", password=PASSWORD)
    assert unknown.status_code == 401
    assert unknown.text.count("do not match") == 1

    answer = sign_in(client)
    assert answer.status_code == 303
    cookie = answer.headers["set-cookie"]
    for flag in ("HttpOnly", "SameSite=strict", "Secure", "Path=/editor"):
        assert flag.lower() in cookie.lower(), cookie
    listing = client.get("/editor")
    assert listing.status_code == 200
    assert f"Issue {issue}" in listing.text
    assert "Signed in as ada" in listing.text
    assert client.get("/editor/login").status_code == 303  # already signed in


def test_sign_out_ends_the_session(client: TestClient, issue: int) -> None:
    sign_in(client)
    listing = client.get("/editor")
    assert client.post("/editor/logout", data={"form_token": token_on(listing)}).status_code == 303
    assert client.get("/editor").status_code == 303


def test_a_forged_or_foreign_cookie_is_no_session(client: TestClient, issue: int, parts: Parts) -> None:
    api_token = parts.api_tokens.issue("ada")
    for value in ("nonsense", api_token, sign_in_cookie(client)[:-2] + "xx"):
        client.cookies.clear()
        client.cookies.set("digest_editor", value, domain="digest.example.org", path="/editor")
        assert client.get("/editor").status_code == 303, value


def sign_in_cookie(client: TestClient) -> str:
    sign_in(client)
    value = client.cookies.get("digest_editor")
    assert value
    return value


def test_a_changed_password_hash_ends_the_session(
    client: TestClient, issue: int, web_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sign_in(client)
    assert client.get("/editor").status_code == 200
    auth = client.app.state.editor_auth  # type: ignore[attr-defined]
    auth.accounts = {**auth.accounts, "ada": auth.accounts["bob"]}
    assert client.get("/editor").status_code == 303


def test_failed_sign_ins_are_rate_limited(client: TestClient, issue: int) -> None:
    for _ in range(4):
        assert sign_in(client, password="guess").status_code == 401
    blocked = sign_in(client)  # even the right password waits now
    assert blocked.status_code == 429
    assert client.get("/editor").status_code == 303
    # Another editor from another network is not blocked by ada's failures... but this is one IP.
    assert sign_in(client, name="bob", password=OTHER_PASSWORD).status_code == 429


def test_forms_without_a_token_or_from_another_site_are_refused(
    client: TestClient, issue: int, engine: Engine
) -> None:
    sign_in(client)
    page = client.get(f"/editor/issues/{issue}")
    token = token_on(page)
    path = f"/editor/issues/{issue}"
    assert client.post(path, data={"action": "approve"}).status_code == 403
    assert client.post(path, data={"action": "approve", "form_token": "forged"}).status_code == 403
    evil = {"origin": "https://evil.example"}
    assert client.post(path, data={"action": "approve", "form_token": token}, headers=evil).status_code == 403
    cross = {"sec-fetch-site": "cross-site"}
    assert (
        client.post(path, data={"action": "approve", "form_token": token}, headers=cross).status_code == 403
    )
    session = client.cookies.get("digest_editor")
    client.cookies.clear()
    login = client.get("/editor/login")
    assert (
        client.post(
            "/editor/login",
            data={"form_token": token_on(login), "name": "ada", "password": PASSWORD},
            headers=evil,
        ).status_code
        == 403
    )
    assert stored(engine, issue).status == "draft"
    client.cookies.set("digest_editor", session or "", domain="digest.example.org", path="/editor")
    same = {"origin": BASE_URL}
    assert client.post(path, data={"action": "hold", "form_token": token}, headers=same).status_code == 303


def test_a_form_token_of_another_editor_is_refused(client: TestClient, issue: int) -> None:
    sign_in(client, name="bob", password=OTHER_PASSWORD)
    bobs = token_on(client.get(f"/editor/issues/{issue}"))
    client.cookies.clear()
    sign_in(client)
    answer = client.post(f"/editor/issues/{issue}", data={"action": "approve", "form_token": bobs})
    assert answer.status_code == 403


# --- the issue page --------------------------------------------------------------------------------


def test_the_issue_page_previews_what_is_sent(client: TestClient, issue: int, engine: Engine) -> None:
    sign_in(client)
    page = client.get(f"/editor/issues/{issue}")
    assert page.status_code == 200
    assert page.text.count(f'src="/editor/issues/{issue}/email.html"') == 2
    assert 'class="phone"' in page.text
    assert "frame-src 'self'" in page.headers["content-security-policy"]
    frame = client.get(f"/editor/issues/{issue}/email.html")
    kept = stored(engine, issue)
    assert frame.text == issues.preview(kept, base_url=BASE_URL)
    assert "frame-ancestors 'self'" in frame.headers["content-security-policy"]
    assert "Key takeaway: The key takeaway of study 1." in page.text  # the text part
    assert client.get("/editor/issues/999").status_code == 404
    assert client.get("/editor/issues/99999999999").status_code == 404


def test_warnings_before_approving(client: TestClient, issue: int, parts: object) -> None:
    sign_in(client)
    page = client.get(f"/editor/issues/{issue}").text
    assert "HTML size" in page
    assert "Outlook on Windows" in page  # caniemail: e.g. max-width is not supported there
    assert "DIGEST_POSTAL_ADDRESS" not in page  # the test environment sets one


def test_a_missing_postal_address_is_a_warning(
    client: TestClient, issue: int, parts: Parts, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parts.settings, "postal_address", None)
    sign_in(client)
    assert "DIGEST_POSTAL_ADDRESS" in client.get(f"/editor/issues/{issue}").text


def test_decisions_are_recorded_with_who_and_when(client: TestClient, issue: int, engine: Engine) -> None:
    sign_in(client)
    assert act(client, issue, "hold").status_code == 303
    assert stored(engine, issue).status == "held"
    assert act(client, issue, "approve").headers["location"] == f"/editor/issues/{issue}?done=approve"
    kept = stored(engine, issue)
    assert (kept.status, kept.approved_by) == ("approved", "ada")
    assert trail(engine, issue) == [("ada", "held"), ("ada", "approved")]
    page = client.get(f"/editor/issues/{issue}?done=approve").text
    assert "Approved: it goes out" in page
    assert page.count("<td>ada</td>") == 2


def test_a_decision_that_is_not_allowed_is_explained(client: TestClient, issue: int, engine: Engine) -> None:
    sign_in(client)
    act(client, issue, "cancel")
    answer = act(client, issue, "approve")
    assert answer.status_code == 409
    assert "cannot be approved now" in answer.text


# --- edits -------------------------------------------------------------------------------------------


def test_reorder_and_drop_items_re_render_at_once(client: TestClient, issue: int, engine: Engine) -> None:
    sign_in(client)
    before = item_titles(engine, issue)
    page = client.get(f"/editor/issues/{issue}")
    ids = order_on(page).split()
    answer = client.post(
        f"/editor/issues/{issue}",
        data={
            "form_token": token_on(page),
            "action": "arrange",
            "order": order_on(page),
            "move": f"{ids[1]}:up",
        },
    )
    assert answer.status_code == 303
    assert item_titles(engine, issue) == [before[1], before[0], before[2]]
    html = stored(engine, issue).html
    first, second = (f"headline number {title.split()[-1]}</a>" for title in before[:2])
    assert html.index(second) < html.index(first)
    assert stored(engine, issue).subject.startswith(f"Plain headline number {before[1].split()[-1]},")

    page = client.get(f"/editor/issues/{issue}")
    client.post(
        f"/editor/issues/{issue}",
        data={
            "form_token": token_on(page),
            "action": "arrange",
            "order": order_on(page),
            "move": f"{ids[2]}:drop",
        },
    )
    assert item_titles(engine, issue) == [before[1], before[0]]
    assert f"headline number {before[2].split()[-1]}</a>" not in stored(engine, issue).html
    assert stored(engine, issue).subject.endswith(", and 1 more")
    assert [action for _, action in trail(engine, issue)] == ["arrange", "arrange"]


def test_an_order_changed_by_someone_else_is_not_overwritten(
    client: TestClient, issue: int, engine: Engine
) -> None:
    sign_in(client)
    page = client.get(f"/editor/issues/{issue}")
    ids = order_on(page).split()
    act(client, issue, "arrange", order=order_on(page), move=f"{ids[2]}:up")  # another editor, meanwhile
    after = item_titles(engine, issue)
    answer = client.post(
        f"/editor/issues/{issue}",
        data={
            "form_token": token_on(page),
            "action": "arrange",
            "order": order_on(page),
            "move": f"{ids[1]}:up",
        },
    )
    assert answer.status_code == 409
    assert "reload it" in answer.text
    assert item_titles(engine, issue) == after


def test_a_stale_order_is_refused(client: TestClient, issue: int, engine: Engine) -> None:
    sign_in(client)
    page = client.get(f"/editor/issues/{issue}")
    answer = client.post(
        f"/editor/issues/{issue}",
        data={"form_token": token_on(page), "action": "arrange", "order": "1 2 999", "move": "999:up"},
    )
    assert answer.status_code == 409


def test_subject_preheader_and_a_sanitised_markdown_note(
    client: TestClient, issue: int, engine: Engine, parts: Parts
) -> None:
    sign_in(client)
    note = (
        "Hello **readers** & friends.\n\n<script>alert(1)</script> [a trap](javascript:alert(1)) "
        "[our method](https://digest.example.org/method)"
    )
    answer = act(client, issue, "words", subject="A new subject", preheader="A new preheader", note=note)
    assert answer.status_code == 303
    kept = stored(engine, issue)
    assert (kept.subject, kept.preheader, kept.note) == ("A new subject", "A new preheader", note)
    assert "<strong>readers</strong> &amp; friends." in kept.html
    assert "<script>" not in kept.html
    assert 'href="javascript' not in kept.html.replace(" ", "")
    # The note's link, tracked (DIGEST_TRACKING=aggregate), leads to the address the editor wrote.
    (tracked,) = re.findall(
        r'href="https://digest.example.org/r/([^"]+)"', kept.html.split("In this issue")[0]
    )
    assert parts.click_tokens.read(tracked).url == "https://digest.example.org/method"
    assert "<title>A new subject</title>" in kept.html
    assert "Hello **readers** & friends." in kept.text
    assert trail(engine, issue) == [("ada", "edit")]


def test_only_a_draft_or_held_issue_can_be_edited(client: TestClient, issue: int, engine: Engine) -> None:
    sign_in(client)
    act(client, issue, "approve")
    answer = act(client, issue, "words", subject="Too late", preheader="", note="")
    assert answer.status_code == 409
    assert "only a draft or held issue can be edited" in answer.text
    assert stored(engine, issue).subject != "Too late"


def test_an_empty_subject_is_refused(client: TestClient, issue: int, engine: Engine) -> None:
    sign_in(client)
    answer = act(client, issue, "words", subject="  ", preheader="", note="")
    assert answer.status_code == 409
    assert "subject must have" in answer.text
    long_note = act(client, issue, "words", subject="Fine", preheader="", note="x" * 2001)
    assert long_note.status_code == 409
    assert "at most 2000 characters" in long_note.text


@pytest.mark.parametrize(
    ("field", "character"), [("subject", "\x00"), ("preheader", "\x07"), ("note", "\x00"), ("note", "\x1b")]
)
def test_a_control_character_in_the_words_is_refused_by_name(
    client: TestClient, issue: int, engine: Engine, field: str, character: str
) -> None:
    sign_in(client)
    words = {"subject": "A new subject", "preheader": "A new preheader", "note": "A new note."}
    words[field] = f"Before{character}after"

    answer = act(client, issue, "words", **words)

    assert answer.status_code == 409
    assert f"the {field} must not contain control characters (found U+{ord(character):04X})" in answer.text
    assert stored(engine, issue).subject != "A new subject"


# --- test sends --------------------------------------------------------------------------------------


def test_a_test_send_is_marked_and_not_a_delivery(
    client: TestClient, issue: int, engine: Engine, outbox: Path
) -> None:
    sign_in(client)
    answer = act(client, issue, "test", to="Editor@Example.org")
    assert answer.status_code == 303
    (message,) = read_outbox(outbox)
    assert str(message["Subject"]).startswith("[TEST] ")
    assert str(message["To"]) == "Editor@example.org"
    with unit_of_work(engine) as session:
        assert list(session.exec(select(Delivery))) == []
    assert stored(engine, issue).status == "draft"
    assert trail(engine, issue) == [("ada", "test-send")]
    bad = act(client, issue, "test", to="not an address")
    assert bad.status_code == 409
    assert "not a valid email address" in bad.text


def test_a_session_ends_after_its_max_age(client: TestClient, issue: int) -> None:
    sign_in(client)
    assert client.get("/editor").status_code == 200
    with time_machine.travel(datetime.now(UTC) + timedelta(hours=12, minutes=1)):
        assert client.get("/editor").status_code == 303


def test_decisions_from_the_shell_are_in_the_trail_too(engine: Engine, digest: Digest, issue: int) -> None:
    digest("hold", str(issue))
    digest("approve", str(issue))
    assert trail(engine, issue) == [("cli", "held"), ("cli", "approved")]


def test_past_issues_are_listed_apart(client: TestClient, issue: int, digest: Digest) -> None:
    digest("cancel", str(issue))
    sign_in(client)
    listing = client.get("/editor").text
    past = listing.index("Past issues")
    assert listing.index(f"Issue {issue}</a>") > past
    assert "No issue waits for review" in listing


def test_the_shell_shows_the_same_warnings(engine: Engine, digest: Digest, issue: int) -> None:
    result = digest("preview", str(issue), "--check")
    assert result.stdout.startswith("<!doctype html>")
    lines = result.stderr.splitlines()
    assert any(line.startswith("warning: feature: ") and "Outlook on Windows" in line for line in lines)
    assert lines[-1].endswith(" warnings")


def test_a_malformed_login_limit_is_a_clear_setting_error(
    parts: Parts, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parts.settings, "editor_login_limit", "often")
    with pytest.raises(ConfigError, match="DIGEST_EDITOR_LOGIN_LIMIT"):
        create_app(parts)
