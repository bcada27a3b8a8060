"""The embedded sign-up form (``/embed``) as a publisher's page, a reader and a bot meet it, on SQLite and
PostgreSQL: allowed origins, CORS on the embed endpoints only, the plain form without JavaScript, the
script's JSON, the signed timestamp (fill time, replay, another site's), and the same answer throughout.
"""

import html
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from digest.wiring import Parts
from tests.support.editor import EDITORS, sign_in
from tests.support.embed import EMBED_ENV, PUBLISHER, STRANGER, embed_form, embed_json, embed_token
from tests.support.web import RELAXED, form_token, link_in, notices, path_of, subscriber, subscriber_count

HIDDEN = re.compile(r'name="(token|page|form)" value="([^"]*)"')


@pytest.fixture
def overrides(request: pytest.FixtureRequest) -> dict[str, str]:
    return dict(getattr(request, "param", {}))


@pytest.fixture
def web_env(web_env: dict[str, str], overrides: dict[str, str]) -> dict[str, str]:
    return {**web_env, **RELAXED, **EMBED_ENV, **overrides}


def hidden(page: str) -> dict[str, str]:
    return dict(HIDDEN.findall(page))


# --- the script's sign-up ------------------------------------------------------------------------


def test_a_reader_signs_up_through_the_script_and_confirms(
    client: TestClient, parts: Parts, outbox: Path
) -> None:
    answer = embed_json(client, "Reader@Example.org")

    assert answer.status_code == 202
    assert answer.json()["status"] == "check-your-inbox"
    assert answer.headers["access-control-allow-origin"] == PUBLISHER
    (confirmation,) = notices(outbox, "reader@example.org")
    assert client.post(path_of(link_in(confirmation, "confirm"))).status_code == 200
    found = subscriber(parts.engine, "reader@example.org")
    assert found is not None
    assert (found.state, found.consent_form, found.timezone) == (
        "active",
        f"summary-page on {PUBLISHER}",
        "Asia/Kathmandu",
    )
    assert found.consent_ip == "testclient"


def test_inline_errors_name_the_field_and_nothing_is_sent(client: TestClient, outbox: Path) -> None:
    token = embed_token(client)
    bad_email = embed_json(client, "not an address", token=token)
    no_consent = embed_json(client, "reader@example.org", token=token, consent=False)
    bad_topic = embed_json(client, "reader@example.org", token=token, topics=["Astrology"])

    assert (bad_email.status_code, bad_email.json()["field"]) == (422, "email")
    assert (no_consent.status_code, no_consent.json()["field"]) == (422, "consent")
    assert (bad_topic.status_code, bad_topic.json()["field"]) == (422, "topics")
    assert "astrology" in bad_topic.json()["error"]
    assert notices(outbox) == []
    # The timestamp was not spent by the refusals: the corrected form goes through with it.
    assert embed_json(client, "reader@example.org", token=token).status_code == 202
    assert len(notices(outbox)) == 1


def test_a_time_zone_the_database_does_not_know_is_dropped(client: TestClient, parts: Parts) -> None:
    assert embed_json(client, "a@example.org", timezone="../../etc/passwd").status_code == 202
    assert embed_json(client, "b@example.org", timezone="Mars/Olympus_Mons").status_code == 202
    assert embed_json(client, "c@example.org", timezone="America/St_Johns").status_code == 202

    zones = [getattr(subscriber(parts.engine, f"{n}@example.org"), "timezone", "?") for n in "abc"]
    assert zones == [None, None, "America/St_Johns"]


def test_known_and_unknown_addresses_get_the_same_answer(client: TestClient, outbox: Path) -> None:
    first = embed_json(client, "known@example.org")
    again = embed_json(client, "known@example.org")
    stranger = embed_json(client, "unknown@example.org")

    assert first.status_code == again.status_code == stranger.status_code == 202
    assert first.json() == again.json() == stranger.json()


# --- origins -------------------------------------------------------------------------------------


def test_another_site_is_refused_and_nothing_is_sent(client: TestClient, parts: Parts, outbox: Path) -> None:
    refused_token = client.get("/embed/token", headers={"Origin": STRANGER})
    stolen = embed_json(client, "victim@example.org", origin=STRANGER, token=embed_token(client))
    plain = embed_form(client, {"email": "victim@example.org", "consent": "yes"}, origin=STRANGER)

    assert refused_token.status_code == 403
    assert "access-control-allow-origin" not in refused_token.headers
    assert stolen.status_code == 403
    assert plain.status_code == 403
    assert "Nothing was sent" in plain.text
    assert subscriber_count(parts.engine) == 0
    assert notices(outbox) == []


def test_a_post_naming_no_site_is_refused_and_the_referer_counts_when_origin_is_missing(
    client: TestClient, parts: Parts
) -> None:
    body = {"email": "r@example.org", "consent": True, "token": embed_token(client)}
    nameless = client.post("/embed/subscribe", json=body)
    by_referer = client.post("/embed/subscribe", json=body, headers={"Referer": f"{PUBLISHER}/page"})
    null_origin = client.post("/embed/subscribe", json=body, headers={"Origin": "null"})

    assert (nameless.status_code, by_referer.status_code, null_origin.status_code) == (403, 202, 403)
    assert subscriber_count(parts.engine) == 1


def test_a_timestamp_handed_to_one_site_does_not_work_on_another(client: TestClient, parts: Parts) -> None:
    token = embed_token(client, "https://blog.publisher.example")

    moved = embed_json(client, "r@example.org", token=token)

    assert (moved.status_code, moved.json()["field"]) == (422, "token")
    assert subscriber_count(parts.engine) == 0


def test_cors_answers_the_publisher_on_the_embed_endpoints_only(client: TestClient) -> None:
    preflight = {"Origin": PUBLISHER, "Access-Control-Request-Method": "POST"}
    preflight["Access-Control-Request-Headers"] = "content-type"

    allowed = client.options("/embed/subscribe", headers=preflight)
    stranger = client.options("/embed/subscribe", headers={**preflight, "Origin": STRANGER})
    own_form = client.options("/subscribe", headers=preflight)

    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == PUBLISHER
    assert "POST" in allowed.headers["access-control-allow-methods"]
    assert stranger.status_code == 400
    assert "access-control-allow-origin" not in stranger.headers
    assert own_form.status_code == 405
    assert (
        "access-control-allow-origin" not in client.get("/subscribe", headers={"Origin": PUBLISHER}).headers
    )


def test_only_the_allowed_sites_may_frame_the_iframe_variant(client: TestClient) -> None:
    framed = client.get("/embed/form?form=sidebar", headers={"Referer": f"{PUBLISHER}/x"})
    own = client.get("/subscribe")

    policy = framed.headers["content-security-policy"]
    assert "frame-ancestors 'self' https://news.publisher.example https://blog.publisher.example" in policy
    assert "'none'" not in policy.split("frame-ancestors")[1]
    assert "frame-ancestors 'none'" in own.headers["content-security-policy"]
    assert hidden(framed.text)["form"] == "sidebar"


def test_the_script_is_small_and_cached_for_a_year_at_its_versioned_address(client: TestClient) -> None:
    version = client.app.state.web.embed.script.version  # type: ignore[attr-defined]
    current = client.get(f"/embed/embed.js?v={version}")
    older = client.get("/embed/embed.js?v=0123456789ab")

    assert current.status_code == 200
    assert current.headers["content-type"].startswith("text/javascript")
    assert len(current.content) < 6_000
    assert current.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert older.headers["cache-control"] == "public, max-age=3600"
    assert older.content == current.content


# --- the plain form, JavaScript off ---------------------------------------------------------------


def test_the_plain_form_asks_once_more_on_this_site_then_links_back(
    client: TestClient, parts: Parts, outbox: Path
) -> None:
    step = embed_form(client, {"email": "plain@example.org", "consent": "yes", "topics": ""})

    assert step.status_code == 200
    assert "One more step" in step.text
    assert subscriber_count(parts.engine) == 0  # nothing yet: no proof of a fill time
    fields = hidden(step.text)
    assert fields["page"] == f"{PUBLISHER}/summaries/42"
    assert 'name="consent" value="yes" required checked' in step.text
    done = client.post(
        "/embed/subscribe",
        data={**fields, "email": "plain@example.org", "consent": "yes", "website": ""},
        headers={"Origin": "https://digest.example.org"},
    )

    assert done.status_code == 200
    assert "Check your inbox" in done.text
    assert f'href="{PUBLISHER}/summaries/42"' in done.text
    found = subscriber(parts.engine, "plain@example.org")
    assert found is not None
    assert (found.state, found.consent_form, found.timezone) == (
        "pending",
        f"summary-page on {PUBLISHER}",
        None,
    )
    assert len(notices(outbox)) == 1


def test_no_link_back_to_a_site_not_allowed(client: TestClient) -> None:
    step = embed_form(client, {"email": "p@example.org", "consent": "yes"})
    fields = {**hidden(step.text), "page": f"{STRANGER}/phish"}
    done = client.post(
        "/embed/subscribe",
        data={**fields, "email": "p@example.org", "consent": "yes", "website": ""},
        headers={"Origin": "https://digest.example.org"},
    )

    assert "Check your inbox" in done.text
    assert STRANGER not in done.text


def test_plain_form_errors_are_shown_on_this_sites_copy(client: TestClient, outbox: Path) -> None:
    wrong = embed_form(client, {"email": "nope", "consent": "yes"})

    assert wrong.status_code == 400
    assert "Please enter a valid email address." in wrong.text
    assert 'value="nope"' in wrong.text
    assert notices(outbox) == []


# --- bots ----------------------------------------------------------------------------------------


def test_bots_get_the_same_answer_and_nothing_is_sent(client: TestClient, parts: Parts, outbox: Path) -> None:
    person = embed_json(client, "person@example.org")
    token = embed_token(client)
    first = embed_json(client, "second@example.org", token=token)
    replayed = embed_json(client, "target@example.org", token=token)
    honeypot = embed_json(client, "target@example.org", website="https://spam.example.com")

    assert person.status_code == first.status_code == replayed.status_code == honeypot.status_code == 202
    assert person.json() == replayed.json() == honeypot.json()
    assert subscriber(parts.engine, "target@example.org") is None
    assert len(notices(outbox)) == 2


@pytest.mark.parametrize("overrides", [{"DIGEST_MIN_FILL_TIME": "1h"}], indirect=True, ids=["fill-1h"])
def test_a_form_sent_too_fast_gets_the_same_answer_and_nothing_is_sent(
    client: TestClient, parts: Parts, outbox: Path
) -> None:
    fast = embed_json(client, "target@example.org")

    assert fast.status_code == 202
    assert fast.json()["status"] == "check-your-inbox"
    assert subscriber(parts.engine, "target@example.org") is None
    assert notices(outbox) == []


def test_a_forged_timestamp_is_refused(client: TestClient, parts: Parts) -> None:
    forged = embed_json(client, "r@example.org", token=form_token(client.get("/subscribe")))

    assert (forged.status_code, forged.json()["field"]) == (422, "token")
    assert subscriber_count(parts.engine) == 0


# --- the editor's page ---------------------------------------------------------------------------


@pytest.mark.parametrize("overrides", [{"DIGEST_EDITORS": EDITORS}], indirect=True, ids=["editors"])
def test_editors_get_the_snippet_for_this_site_with_a_live_preview(client: TestClient) -> None:
    assert client.get("/editor/embed").status_code == 303  # signed out: to the sign-in page
    sign_in(client)

    page = client.get("/editor/embed?form=Sidebar Box&topics=no")

    assert page.status_code == 200
    code = html.unescape(re.search(r'<textarea id="snippet-code"[^>]*>(.*?)</textarea>', page.text, re.S)[1])  # type: ignore[index]
    assert 'action="https://digest.example.org/embed/subscribe"' in code
    assert '<input type="hidden" name="form" value="sidebar-box">' in code
    assert re.search(r'<script src="https://digest\.example\.org/embed/embed\.js\?v=\w{12}" defer>', code)
    assert 'name="topics"' not in code
    assert PUBLISHER in page.text  # the allowed sites are named
    preview = page.text.split("<h2>Preview</h2>", 1)[1]
    assert '<form class="digest-signup"' in preview
    assert "connect-src 'self'" in page.headers["content-security-policy"]


@pytest.mark.parametrize(
    "overrides",
    [{"DIGEST_ALTCHA": "true", "DIGEST_ALTCHA_MAX_NUMBER": "1000"}],
    indirect=True,
    ids=["altcha"],
)
def test_with_proof_of_work_on_the_timestamp_brings_a_challenge_and_a_sign_up_needs_its_solution(
    client: TestClient, parts: Parts, outbox: Path
) -> None:
    issued = client.get("/embed/token", headers={"Origin": PUBLISHER}).json()
    unsolved = embed_json(client, "r@example.org", token=issued["token"])

    assert {"challenge", "salt", "signature", "maxnumber"} <= set(issued["altcha"])
    assert (unsolved.status_code, unsolved.json()["field"]) == (422, "altcha")
    assert subscriber_count(parts.engine) == 0
    assert notices(outbox) == []
