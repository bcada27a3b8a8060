"""A reader in a real browser picks topics when signing up, then changes them on the preferences page
opened from the welcome email's link, by clicking the checkboxes (labels and all) and saving."""

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from digest.db.engine import unit_of_work
from digest.subscribers import records as subscribers
from digest.subscribers import topics
from digest.web.app import create_app
from digest.wiring import Parts
from tests.support.browser import free_port, link_in, live_server

PORT = free_port()
EMAIL = "reader@example.org"


@pytest.fixture
def web_env(env: dict[str, str]) -> dict[str, str]:
    """Links in emails lead back to the live server; a person takes more than a second to fill the form."""
    return {
        **env,
        "DIGEST_BASE_URL": f"http://127.0.0.1:{PORT}",
        "DIGEST_MIN_FILL_TIME": "1s",
        "DIGEST_TOPICS": "Cardiology,Mental health,Sleep",
    }


@pytest.fixture
def site(parts: Parts) -> Iterator[str]:
    with live_server(create_app(parts), PORT) as url:
        yield url


def stored_topics(parts: Parts) -> list[str]:
    with unit_of_work(parts.engine) as session:
        return list(topics.chosen(subscribers.get(session, EMAIL)))


def test_pick_topics_at_sign_up_and_change_them_on_the_preferences_page(
    site: str, browser: Browser, parts: Parts, outbox: Path
) -> None:
    page = browser.new_page()
    page.goto(f"{site}/subscribe")
    group = page.get_by_role("group", name="Topics (optional — none picked means everything)")
    expect(group.get_by_role("checkbox")).to_have_count(3)
    page.get_by_label("Email address").fill(EMAIL)
    group.get_by_label("cardiology").check()
    page.get_by_label(re.compile("weekly Research Digest")).check()
    page.wait_for_timeout(1100)  # the minimum fill time keeps bots out
    page.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()
    assert stored_topics(parts) == ["cardiology"]

    page.goto(link_in(outbox, "Confirm your subscription", rf"{site}/confirm/\S+"))
    expect(page.get_by_role("heading", name="You are subscribed")).to_be_visible()

    page.goto(link_in(outbox, "Welcome", rf"{site}/preferences/\S+"))
    expect(page.get_by_role("heading", name="Your preferences")).to_be_visible()
    choice = page.get_by_role("group", name=re.compile("The topics you want"))
    expect(choice.get_by_label("cardiology")).to_be_checked()
    expect(choice.get_by_label("mental health")).not_to_be_checked()

    choice.get_by_text("cardiology").click()  # clicking a label toggles its box
    choice.get_by_label("mental health").click()
    choice.get_by_label("sleep").click()
    page.get_by_role("button", name="Save topics").click()

    expect(page.get_by_role("status")).to_contain_text(
        "You get only the summaries on these topics: mental health, sleep"
    )
    saved = page.get_by_role("group", name=re.compile("The topics you want"))
    expect(saved.get_by_label("cardiology")).not_to_be_checked()
    expect(saved.get_by_label("mental health")).to_be_checked()
    expect(saved.get_by_label("sleep")).to_be_checked()
    assert stored_topics(parts) == ["mental health", "sleep"]

    page.reload()  # the choice is the stored one, not the browser's memory of the form
    expect(saved.get_by_label("mental health")).to_be_checked()

    # Unticking everything means every summary, and the page says so.
    saved.get_by_label("mental health").uncheck()
    saved.get_by_label("sleep").uncheck()
    page.get_by_role("button", name="Save topics").click()
    expect(page.get_by_role("status")).to_contain_text("With no topic ticked, you get every summary")
    expect(page.get_by_role("definition").filter(has_text=re.compile("^everything$"))).to_be_visible()
    assert stored_topics(parts) == []

    download = page.request.get(page.url + "/data")
    assert json.loads(download.text())["topics"] == []
