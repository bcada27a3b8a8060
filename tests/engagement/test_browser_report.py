"""Readers click links of the emails they received, in Chromium; the editor's report page shows those
clicks, with its charts and tables, at 375 and 1280 px, light and dark (screenshots looked at)."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, Route, expect

from digest.web.app import create_app
from digest.wiring import Parts
from tests.support import parts_of
from tests.support.browser import free_port, live_server
from tests.support.cli import Digest
from tests.support.editor import EDITORS, PASSWORD
from tests.support.engagement import NOTE_URL, send_with_note
from tests.support.web import digests

PORT = free_port()
READERS = ["ann@example.org", "bob@example.org"]
# A reader's browser: headless Chromium names itself "HeadlessChrome", which the redirect takes for a bot.
# Two readers on one machine (127.0.0.1) tell apart by their browsers only.
AGENTS = {
    "ann": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/130.0 Safari/537.36",
    "bob": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/129.0 Safari/537.36",
}
OUTSIDE = ("https://summaries.example.org/**", "https://doi.org/**", "https://research.example.org/**")
SHOTS = os.environ.get("DIGEST_SCREENSHOTS")  # a folder to keep the screenshots in, to look at them


@pytest.fixture
def web_env(env: dict[str, str]) -> dict[str, str]:
    return {**env, "DIGEST_BASE_URL": f"http://127.0.0.1:{PORT}", "DIGEST_EDITORS": EDITORS}


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    return {**env, "DIGEST_BASE_URL": f"http://127.0.0.1:{PORT}"}


@pytest.fixture
def site(parts: Parts) -> Iterator[str]:
    with live_server(create_app(parts), PORT) as url:
        yield url


def reader_page(browser: Browser, html: str, agent: str) -> Page:
    """The received email open in a reader's browser; the summaries' sites answer from here (no network)."""
    context = browser.new_context(user_agent=agent, viewport={"width": 600, "height": 900})
    for pattern in OUTSIDE:
        context.route(pattern, lambda route: fulfil(route))
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.set_content(html)
    return page


def fulfil(route: Route) -> None:
    route.fulfill(
        status=200, content_type="text/html", body=f"<h1>Outside page</h1><p>{route.request.url}</p>"
    )


def figure(page: Page, name: str) -> Locator:
    return page.locator(".figures div").filter(has=page.get_by_text(name, exact=True)).locator("dd")


def follow(page: Page, html: str, link: str, expected: str) -> None:
    page.set_content(html)
    page.locator(link).first.click()
    page.wait_for_url(expected)


def test_clicks_in_received_emails_show_in_the_report(
    site: str,
    browser: Browser,
    digest: Digest,
    env: dict[str, str],
    parts: Parts,
    outbox: Path,
    tmp_path: Path,
) -> None:
    for reader in READERS:
        digest("subscribers", "add", reader, "--confirmed")
    number = send_with_note(digest, env, parts)
    ann, bob = (parts_of(digests(outbox, reader)[0])[1] for reader in READERS)

    page = reader_page(browser, ann, AGENTS["ann"])
    follow(page, ann, "h2 a >> nth=0", "https://summaries.example.org/s/test-1")  # a headline
    follow(page, ann, "a:has-text('doi.org/')", "https://doi.org/10.1136/bmj.test1")
    page = reader_page(browser, bob, AGENTS["bob"])
    follow(page, bob, "a:has-text('the methods page')", NOTE_URL)

    editor = browser.new_page(viewport={"width": 1280, "height": 900})
    editor.goto(f"{site}/editor/issues/{number}/report")
    editor.get_by_label("Name").fill("ada")
    editor.get_by_label("Password").fill(PASSWORD)
    editor.get_by_role("button", name="Sign in").click()
    editor.goto(f"{site}/editor/issues/{number}/report")
    expect(editor.get_by_role("heading", name=f"Issue {number}: what it did")).to_be_visible()
    expect(figure(editor, "Delivered")).to_have_text("2")
    expect(figure(editor, "Readers who clicked")).to_have_text("2 (100.0 %)")
    expect(figure(editor, "Clicks")).to_have_text("3")
    chart = editor.get_by_role("img", name=f"Issue {number}: readers who clicked each summary")
    expect(chart).to_be_visible()
    row = editor.locator("table[aria-labelledby=per-summary] tbody tr").first
    expect(row).to_contain_text("Plain headline number 1")
    assert row.locator("td.num").all_inner_texts() == ["1", "2", "1"]
    expect(editor.get_by_role("img", name=f"Issue {number}: clicks since the send")).to_be_visible()

    folder = Path(SHOTS) if SHOTS else tmp_path
    # The issue list: the last issues' delivered, click rate and unsubscribe rate, with their charts.
    editor.goto(f"{site}/editor")
    expect(editor.get_by_role("img", name="Click rate of the last issues")).to_be_visible()
    expect(editor.get_by_role("img", name="Unsubscribe rate of the last issues")).to_be_visible()
    recent = editor.locator("table[aria-labelledby=recent] tbody tr").first
    assert recent.locator("td").all_inner_texts() == [f"Issue {number}", "2", "100.0 %", "0.0 %"]
    editor.screenshot(path=str(folder / "issues-light-1280.png"), full_page=True)
    for scheme in ("light", "dark"):
        for width in (375, 1280):
            view = browser.new_context(viewport={"width": width, "height": 900}, color_scheme=scheme)
            view.add_cookies(
                [{"name": c["name"], "value": c["value"], "url": site} for c in editor.context.cookies()]
            )
            shot = view.new_page()
            shot.goto(f"{site}/editor/issues/{number}/report")
            expect(
                shot.get_by_role("img", name=f"Issue {number}: readers who clicked each topic")
            ).to_be_visible()
            shot.screenshot(path=str(folder / f"report-{scheme}-{width}.png"), full_page=True)
            assert shot.evaluate("document.documentElement.scrollWidth") <= width
            view.close()
