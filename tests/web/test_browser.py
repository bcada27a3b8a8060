"""A person in a real browser: subscribe, confirm from the email, get a digest, leave from its footer."""

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlmodel import select

from digest.db.engine import unit_of_work
from digest.db.models import Subscriber
from digest.web.app import create_app
from digest.wiring import Parts
from tests.support import summary, write_summaries
from tests.support.browser import free_port, link_in, live_server
from tests.support.cli import Digest

PORT = free_port()


@pytest.fixture
def web_env(env: dict[str, str]) -> dict[str, str]:
    """Links in emails lead back to the live server; a person takes more than a second to fill the form."""
    return {**env, "DIGEST_BASE_URL": f"http://127.0.0.1:{PORT}", "DIGEST_MIN_FILL_TIME": "1s"}


@pytest.fixture
def site(parts: Parts) -> Iterator[str]:
    with live_server(create_app(parts), PORT) as url:
        yield url


def state_of(parts: Parts, email: str) -> str:
    with unit_of_work(parts.engine) as session:
        return session.exec(select(Subscriber.state).where(Subscriber.email == email)).one()


def subscribe(page: Page, site: str, email: str) -> None:
    page.goto(f"{site}/subscribe")
    page.get_by_label("Email address").fill(email)
    page.get_by_label(re.compile("weekly Research Digest")).check()
    page.wait_for_timeout(1100)  # the minimum fill time keeps bots out
    page.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()


def test_subscribe_confirm_receive_and_unsubscribe(
    site: str, browser: Browser, parts: Parts, outbox: Path, digest: Digest, web_env: dict[str, str]
) -> None:
    page = browser.new_page()
    subscribe(page, site, "reader@example.org")
    assert state_of(parts, "reader@example.org") == "pending"

    confirm = link_in(outbox, "Confirm your subscription", rf"{site}/confirm/\S+")
    page.goto(confirm)  # the page confirms by submitting itself: no second button to press
    expect(page.get_by_role("heading", name="You are subscribed")).to_be_visible()
    assert state_of(parts, "reader@example.org") == "active"
    assert link_in(outbox, "Welcome", rf"{site}/preferences/\S+")

    digest.env.update(web_env)
    now = datetime.now(UTC)
    write_summaries(
        Path(web_env["DIGEST_SOURCES"]), "week.json", summary(1, published_at=now - timedelta(hours=3))
    )
    for step in (("ingest",), ("compose",), ("approve", "1"), ("send",)):
        digest(*step)

    unsubscribe = link_in(outbox, "Plain headline", rf"{site}/unsubscribe/\S+")
    page.goto(unsubscribe)
    expect(page.get_by_text("reader@example.org")).to_be_visible()
    assert state_of(parts, "reader@example.org") == "active", "opening the page must not unsubscribe"
    page.get_by_role("button", name="Unsubscribe").click()
    expect(page.get_by_role("heading", name="You are unsubscribed")).to_be_visible()
    assert state_of(parts, "reader@example.org") == "unsubscribed"


def test_confirm_page_without_javascript_has_a_button(
    site: str, browser: Browser, parts: Parts, outbox: Path
) -> None:
    page = browser.new_page()
    subscribe(page, site, "nojs@example.org")
    confirm = link_in(outbox, "Confirm your subscription", rf"{site}/confirm/\S+")
    context = browser.new_context(java_script_enabled=False)
    quiet = context.new_page()
    quiet.goto(confirm)
    assert state_of(parts, "nojs@example.org") == "pending"
    quiet.get_by_role("button", name="Confirm my subscription").click()
    expect(quiet.get_by_role("heading", name="You are subscribed")).to_be_visible()
    assert state_of(parts, "nojs@example.org") == "active"
    context.close()
