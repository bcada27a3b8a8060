"""A reader opens a received email in Chromium: its pixel counts one open; Apple's proxy fetching the
same email is set apart; the editor's report page shows the estimate with its chart and table, at 375
and 1280 px, light and dark (screenshots looked at)."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from digest.web.app import create_app
from digest.wiring import Parts
from tests.support import parts_of
from tests.support.browser import free_port, live_server
from tests.support.cli import Digest
from tests.support.editor import EDITORS, PASSWORD
from tests.support.engagement import opens, send_with_note, sent_earlier
from tests.support.web import digests

PORT = free_port()
READER = "ann@example.org"
# A reader's browser (headless Chromium names itself "HeadlessChrome", which counts as a bot).
ANN = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/130.0 Safari/537.36"
APPLE_PROXY = "Mozilla/5.0"
SHOTS = os.environ.get("DIGEST_SCREENSHOTS")  # a folder to keep the screenshots in, to look at them


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    return {**env, "DIGEST_BASE_URL": f"http://127.0.0.1:{PORT}", "DIGEST_TRACK_OPENS": "true"}


@pytest.fixture
def web_env(env: dict[str, str]) -> dict[str, str]:
    return {**env, "DIGEST_EDITORS": EDITORS}


@pytest.fixture
def site(parts: Parts) -> Iterator[str]:
    with live_server(create_app(parts), PORT) as url:
        yield url


def open_email(browser: Browser, html: str, agent: str) -> int:
    """The email shown as a mail client shows it; how many pixel requests the page made."""
    context = browser.new_context(user_agent=agent, viewport={"width": 600, "height": 900})
    page = context.new_page()
    fetched: list[str] = []
    page.on("requestfinished", lambda request: fetched.append(request.url) if "/o/" in request.url else None)
    page.set_content(html, wait_until="load")
    page.wait_for_load_state("networkidle")
    context.close()
    return len(fetched)


def figure(page: Page, name: str) -> Locator:
    return page.locator(".figures div").filter(has=page.get_by_text(name, exact=True)).locator("dd")


def test_the_pixel_of_a_received_email_counts_once_and_proxies_apart(
    site: str,
    browser: Browser,
    digest: Digest,
    env: dict[str, str],
    parts: Parts,
    outbox: Path,
    tmp_path: Path,
) -> None:
    digest("subscribers", "add", READER, "--confirmed")
    digest("subscribers", "add", "bob@example.org", "--confirmed")
    number = send_with_note(digest, env, parts)
    sent_earlier(parts.engine, number)  # read ten minutes after it arrived
    html = parts_of(digests(outbox, READER)[0])[1]

    assert open_email(browser, html, ANN) == 1
    assert len(opens(parts.engine)) == 1
    assert open_email(browser, html, APPLE_PROXY) == 1
    assert [row.kind for row in opens(parts.engine)] == ["fetch", "proxy"]

    editor = browser.new_page(viewport={"width": 1280, "height": 900})
    editor.goto(f"{site}/editor/issues/{number}/report")
    editor.get_by_label("Name").fill("ada")
    editor.get_by_label("Password").fill(PASSWORD)
    editor.get_by_role("button", name="Sign in").click()
    editor.goto(f"{site}/editor/issues/{number}/report")
    expect(figure(editor, "Opens (estimate)")).to_have_text("1 (50.0 %)")
    table = editor.locator("table[aria-labelledby=opens] tbody")
    assert table.locator("tr td.num").all_inner_texts() == ["1", "1", "1", "1"]
    expect(table).to_contain_text("of which a privacy proxy's prefetch")
    chart = editor.get_by_role("img", name=f"Issue {number}: opens, an estimate")
    expect(chart).to_be_visible()

    folder = Path(SHOTS) if SHOTS else tmp_path
    cookies = [{"name": c["name"], "value": c["value"], "url": site} for c in editor.context.cookies()]
    for scheme in ("light", "dark"):
        for width in (375, 1280):
            view = browser.new_context(viewport={"width": width, "height": 900}, color_scheme=scheme)
            view.add_cookies(cookies)  # type: ignore[arg-type]
            shot = view.new_page()
            shot.goto(f"{site}/editor/issues/{number}/report")
            section = shot.locator("section").filter(has=shot.locator("#opens"))
            expect(section.get_by_role("img")).to_be_visible()
            section.screenshot(path=str(folder / f"opens-{scheme}-{width}.png"))
            assert shot.evaluate("document.documentElement.scrollWidth") <= width
            view.close()
