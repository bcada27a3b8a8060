"""An editor in a real browser (Debian's Chromium): sign in, preview at desktop and phone width, reorder,
edit the note, send a test (read back from the outbox), approve, and see it all in the history."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from digest.web.app import create_app
from digest.wiring import Parts
from tests.support import read_outbox
from tests.support.browser import free_port, live_server, wait_for_emails
from tests.support.cli import Digest
from tests.support.editor import EDITORS, PASSWORD
from tests.support.web import draft_issue

PORT = free_port()


@pytest.fixture
def web_env(env: dict[str, str]) -> dict[str, str]:
    return {**env, "DIGEST_BASE_URL": f"http://127.0.0.1:{PORT}", "DIGEST_EDITORS": EDITORS}


@pytest.fixture
def site(parts: Parts) -> Iterator[str]:
    with live_server(create_app(parts), PORT) as url:
        yield url


def sign_in(page: Page, site: str) -> None:
    page.goto(f"{site}/editor")
    expect(page.get_by_role("heading", name="Editor sign-in")).to_be_visible()
    page.get_by_label("Name").fill("ada")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Issues in review")).to_be_visible()


def headlines(page: Page) -> list[str]:
    return (
        page.locator("section", has=page.get_by_role("heading", name="Items"))
        .locator("tbody tr td:nth-child(2)")
        .all_inner_texts()
    )


def test_an_editor_reviews_edits_tests_and_approves(
    site: str, browser: Browser, digest: Digest, env: dict[str, str], outbox: Path
) -> None:
    number = draft_issue(digest, env, first=1, count=3)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    sign_in(page, site)
    page.get_by_role("link", name=f"Issue {number}").click()
    expect(page.get_by_role("heading", name=f"Issue {number}")).to_be_visible()

    # Preview: the stored email at desktop width and at 375 px, side by side, and the text part.
    phone = page.frame_locator("iframe.phone")
    desktop = page.frame_locator("iframe.desktop")
    expect(phone.get_by_text("Research Digest").first).to_be_visible()
    expect(desktop.get_by_text("Unsubscribe").first).to_be_attached()
    assert page.locator("iframe.phone").evaluate("frame => frame.clientWidth") == 375
    expect(page.get_by_label("Plain text part")).to_contain_text("Key takeaway:")

    # Reorder: the second item moves to the top, and the preview follows at once.
    first, second, third = headlines(page)
    page.get_by_role("button", name=f"Move up: {second}").click()
    expect(page.get_by_role("status")).to_contain_text("Items saved")
    assert headlines(page) == [second, first, third]
    expect(page.frame_locator("iframe.desktop").locator("h2 a").first).to_have_text(second)

    # The note: Markdown, shown rendered in the preview and as written in the text part.
    page.get_by_label("Note (Markdown").fill("Thank you for **reading**.\n\n<b>not bold</b>")
    page.get_by_role("button", name="Save and re-render").click()
    expect(page.get_by_role("status")).to_contain_text("Saved")
    note = page.frame_locator("iframe.desktop").locator("strong", has_text="reading")
    expect(note).to_be_visible()
    expect(page.frame_locator("iframe.phone").get_by_text("<b>not bold</b>")).to_be_visible()

    # A test send, read back from the outbox.
    page.get_by_label("Send a test copy to").fill("editor@example.org")
    page.get_by_role("button", name="Send test").click()
    expect(page.get_by_role("status")).to_contain_text("Test sent")
    wait_for_emails(outbox, 1)
    (message,) = read_outbox(outbox)
    assert str(message["Subject"]).startswith("[TEST] ")
    assert str(message["To"]) == "editor@example.org"

    # Approve, and see who did what.
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("status")).to_contain_text("Approved")
    expect(page.get_by_role("heading", name=f"Issue {number}")).to_contain_text("approved")
    history = page.get_by_role("table", name="History")
    for action in ("approved", "test-send", "edit", "arrange"):
        expect(history).to_contain_text(action)
    expect(history.locator("tbody tr").first).to_contain_text("ada")


def test_signed_out_the_editor_pages_lead_to_sign_in(site: str, browser: Browser) -> None:
    page = browser.new_page()
    page.goto(f"{site}/editor/issues/1")
    expect(page.get_by_role("heading", name="Editor sign-in")).to_be_visible()
