"""``POST /api/subscribers``: a publisher's server signs readers up with a token scoped to sign-ups, on
SQLite and PostgreSQL: scopes, the reader's IP in the consent record and the limits, double opt-in unless
the token may import proven consent, and the same answer for known and unknown addresses."""

from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient

from digest.tokens import Scope
from digest.wiring import Parts
from tests.support.cli import Digest
from tests.support.editor import EDITORS
from tests.support.web import RELAXED, confirmed, link_in, notices, path_of, subscriber

READER = {"ip": "203.0.113.7", "user_agent": "Mozilla/5.0 (reader's browser)", "consent": True}


@pytest.fixture
def overrides(request: pytest.FixtureRequest) -> dict[str, str]:
    return dict(getattr(request, "param", {}))


@pytest.fixture
def web_env(web_env: dict[str, str], overrides: dict[str, str]) -> dict[str, str]:
    return {**web_env, **RELAXED, "DIGEST_EDITORS": EDITORS, "DIGEST_TOPICS": "Cardiology", **overrides}


def token(parts: Parts, *scopes: Scope) -> str:
    return parts.api_tokens.issue("ada", scopes)


def post(client: TestClient, token: str | None, email: str, **fields: Any) -> httpx2.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.post("/api/subscribers", json={"email": email, **READER, **fields}, headers=headers)


def test_a_reader_signed_up_by_the_publisher_confirms_and_the_consent_names_them(
    client: TestClient, parts: Parts, outbox: Path
) -> None:
    answer = post(
        client, token(parts, Scope.sign_ups), "Reader@Example.org", form="pricing page",
        timezone="Pacific/Chatham", topics=["Cardiology"],
    )  # fmt: skip

    assert (answer.status_code, answer.json()["status"]) == (202, "check-your-inbox")
    (confirmation,) = notices(outbox, "reader@example.org")
    assert client.post(path_of(link_in(confirmation, "confirm"))).status_code == 200
    found = subscriber(parts.engine, "reader@example.org")
    assert found is not None
    assert (found.state, found.consent_ip, found.consent_user_agent, found.consent_form, found.timezone) == (
        "active",
        "203.0.113.7",
        "Mozilla/5.0 (reader's browser)",
        "API (ada): pricing page",
        "Pacific/Chatham",
    )


def test_scopes(client: TestClient, parts: Parts, outbox: Path) -> None:
    summaries_only = token(parts, Scope.summaries)
    sign_ups = token(parts, Scope.sign_ups)

    assert post(client, None, "a@example.org").status_code == 401
    assert post(client, "not-a-token", "a@example.org").status_code == 401
    refused = post(client, summaries_only, "a@example.org")
    assert refused.status_code == 403
    assert "--scope sign-ups" in refused.json()["error"]
    assert post(client, sign_ups, "a@example.org", confirmed=True).status_code == 403
    pushed = client.post("/api/summaries", json={}, headers={"Authorization": f"Bearer {sign_ups}"})
    assert pushed.status_code == 403
    assert subscriber(parts.engine, "a@example.org") is None
    assert notices(outbox) == []


def test_proven_consent_makes_the_reader_active_at_once_and_sends_no_confirmation(
    client: TestClient, parts: Parts, outbox: Path
) -> None:
    answer = post(client, token(parts, Scope.sign_ups, Scope.proven_consent), "b@example.org", confirmed=True)

    assert answer.status_code == 202
    found = subscriber(parts.engine, "b@example.org")
    assert found is not None
    assert (found.state, found.consent_ip) == ("active", "203.0.113.7")
    assert notices(outbox) == []


def test_known_and_unknown_addresses_get_the_same_answer(
    client: TestClient, parts: Parts, outbox: Path
) -> None:
    confirmed(client, outbox, "known@example.org")
    sign_ups = token(parts, Scope.sign_ups)
    proven = token(parts, Scope.sign_ups, Scope.proven_consent)

    known, unknown = post(client, sign_ups, "known@example.org"), post(client, sign_ups, "new@example.org")
    assert (known.status_code, known.json()) == (unknown.status_code, unknown.json())
    known, unknown = (post(client, proven, f"{n}@example.org", confirmed=True) for n in ("known", "other"))
    assert (known.status_code, known.json()) == (unknown.status_code, unknown.json())


@pytest.mark.parametrize("overrides", [{"DIGEST_RATE_LIMIT_IP": "2/minute"}], indirect=True, ids=["ip-2"])
def test_the_limit_counts_each_readers_ip_not_the_publishers_server(client: TestClient, parts: Parts) -> None:
    sign_ups = token(parts, Scope.sign_ups)

    first = [post(client, sign_ups, f"r{n}@example.org").status_code for n in range(3)]
    other_reader = post(client, sign_ups, "s@example.org", ip="2001:db8::1")

    assert first == [202, 202, 429]
    assert other_reader.status_code == 202


def test_bad_fields_are_named(client: TestClient, parts: Parts, outbox: Path) -> None:
    sign_ups = token(parts, Scope.sign_ups)
    cases = {
        "'ip'": post(client, sign_ups, "a@example.org", ip="the server"),
        "time zone": post(client, sign_ups, "a@example.org", timezone="Mars/Base"),
        "'consent'": post(client, sign_ups, "a@example.org", consent=False),
        "'topics'": post(client, sign_ups, "a@example.org", topics=["Astrology"]),
        "valid email": post(client, sign_ups, "not an address"),
    }

    for named, answer in cases.items():
        assert answer.status_code == 422, named
        assert named in answer.json()["error"]
    assert notices(outbox) == []


def test_the_command_line_issues_scoped_tokens(
    digest: Digest, env: dict[str, str], client: TestClient, parts: Parts
) -> None:
    digest.env = {**env, "DIGEST_EDITORS": EDITORS}

    issued = digest("editors", "token", "ada", "--scope", "sign-ups").stdout.strip()
    alone = digest("editors", "token", "ada", "--scope", "proven-consent", ok=False)

    assert post(client, issued, "c@example.org").status_code == 202
    assert alone.exit_code == 1
    assert "--scope proven-consent goes with --scope sign-ups" in alone.stderr
