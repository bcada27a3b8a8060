"""The optional proof-of-work check (``DIGEST_ALTCHA``) on sign-ups: in a real browser and over JSON."""

import base64
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from altcha.v1 import solve_challenge
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, expect
from sqlmodel import select

from digest.db.engine import unit_of_work
from digest.db.models import Subscriber
from digest.web.app import create_app
from digest.wiring import Parts
from tests.support import read_outbox
from tests.support.browser import free_port, live_server, wait_for_emails

PORT = free_port()


@pytest.fixture
def web_env(env: dict[str, str]) -> dict[str, str]:
    return {
        **env,
        "DIGEST_ALTCHA": "true",
        "DIGEST_ALTCHA_MAX_NUMBER": "20000",
        "DIGEST_MIN_FILL_TIME": "0",
        "DIGEST_BASE_URL": f"http://127.0.0.1:{PORT}",
    }


def solved(challenge: dict[str, object]) -> str:
    """What a browser sends back: the challenge with the number found, base64-encoded JSON."""
    solution = solve_challenge(str(challenge["challenge"]), str(challenge["salt"]), "SHA-256", 20000)
    assert solution is not None
    payload = {key: challenge[key] for key in ("algorithm", "challenge", "salt", "signature")}
    payload["number"] = solution.number
    return base64.b64encode(json.dumps(payload).encode()).decode()


def subscribers(parts: Parts) -> list[str]:
    with unit_of_work(parts.engine) as session:
        return list(session.exec(select(Subscriber.email)))


def test_json_sign_up_needs_a_solved_challenge_used_once(
    client: TestClient, parts: Parts, outbox: Path
) -> None:
    unsolved = client.post("/subscribe", json={"email": "bot@example.org", "consent": True})
    assert unsolved.status_code == 422
    assert "altcha" in unsolved.json()["error"]

    challenge = client.get("/altcha/challenge").json()
    forged = dict(challenge, signature="0" * 64)
    refused = client.post(
        "/subscribe", json={"email": "bot@example.org", "consent": True, "altcha": solved(forged)}
    )
    assert refused.status_code == 422
    assert subscribers(parts) == []

    payload = solved(challenge)
    accepted = client.post(
        "/subscribe", json={"email": "person@example.org", "consent": True, "altcha": payload}
    )
    assert accepted.status_code == 202
    replayed = client.post(
        "/subscribe", json={"email": "other@example.org", "consent": True, "altcha": payload}
    )
    assert replayed.status_code == 422
    assert subscribers(parts) == ["person@example.org"]
    assert [str(m["To"]) for m in read_outbox(outbox)] == ["person@example.org"]


def encoded(payload: object) -> str:
    return base64.b64encode(json.dumps(payload).encode()).decode()


MALFORMED: dict[str, Callable[[dict[str, Any]], object]] = {
    "salt null": lambda good: dict(good, salt=None),
    "salt a number": lambda good: dict(good, salt=12),
    "number a string": lambda good: dict(good, number="12"),
    "signature a list": lambda good: dict(good, signature=[]),
    "algorithm missing": lambda good: {k: v for k, v in good.items() if k != "algorithm"},
    "a list": lambda good: [good],
    "a string holding the field names": lambda good: "algorithm challenge number salt signature",
}


@pytest.mark.parametrize("name", MALFORMED)
def test_a_malformed_solution_is_refused_like_a_wrong_one(
    client: TestClient, parts: Parts, name: str
) -> None:
    good = json.loads(base64.b64decode(solved(client.get("/altcha/challenge").json())))
    payload = encoded(MALFORMED[name](good))

    answer = client.post("/subscribe", json={"email": "bot@example.org", "consent": True, "altcha": payload})

    assert answer.status_code == 422
    assert "altcha" in answer.json()["error"]
    assert subscribers(parts) == []


def test_form_without_the_check_is_refused(client: TestClient, parts: Parts) -> None:
    page = client.get("/subscribe")
    token = re.search(r'name="form_token" value="([^"]+)"', page.text)
    assert token
    answer = client.post(
        "/subscribe",
        data={"email": "bot@example.org", "consent": "yes", "form_token": token.group(1), "altcha": ""},
    )
    assert answer.status_code == 400
    assert "anti-robot check" in answer.text
    assert subscribers(parts) == []


@pytest.fixture
def site(parts: Parts) -> Iterator[str]:
    with live_server(create_app(parts), PORT) as url:
        yield url


def test_a_browser_solves_the_check_and_subscribes(
    site: str, browser: Browser, parts: Parts, outbox: Path
) -> None:
    page = browser.new_page()
    page.goto(f"{site}/subscribe")
    subscribe = page.get_by_role("button", name="Subscribe")
    expect(page.get_by_text("Check done: you can subscribe.")).to_be_visible(timeout=30_000)
    page.get_by_label("Email address").fill("browser@example.org")
    page.get_by_label(re.compile("weekly Research Digest")).check()
    subscribe.click()
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()
    assert subscribers(parts) == ["browser@example.org"]
    wait_for_emails(outbox, 1)
    assert [str(m["To"]) for m in read_outbox(outbox)] == ["browser@example.org"]
