"""A reader leaves from an older issue's email in Chromium, after a newer issue went out: the editor's
report counts it for the older issue (figures, unsubscribes over time, the issue list), at 375 and 1280
px, light and dark (screenshots looked at)."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from digest.web.app import create_app
from digest.wiring import Parts
from tests.support import parts_of
from tests.support.browser import free_port, live_server
from tests.support.cli import Digest
from tests.support.editor import EDITORS, PASSWORD
from tests.support.leaving import state_of, unsubscribe_rows
from tests.support.web import digests, send_issue

PORT = free_port()
READERS = ["ann@example.org", "bob@example.org"]
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


def signed_in(browser: Browser, site: str) -> Page:
    editor = browser.new_page(viewport={"width": 1280, "height": 900})
    editor.goto(f"{site}/editor")
    editor.get_by_label("Name").fill("ada")
    editor.get_by_label("Password").fill(PASSWORD)
    editor.get_by_role("button", name="Sign in").click()
    return editor


def test_leaving_from_issue_1_after_issue_2_shows_in_issue_1s_report(
    site: str,
    browser: Browser,
    digest: Digest,
    env: dict[str, str],
    parts: Parts,
    outbox: Path,
    tmp_path: Path,
) -> None:
    for address in READERS:
        digest("subscribers", "add", address, "--confirmed")
    first, second = send_issue(digest, env, 1, 2), send_issue(digest, env, 3, 2)
    [older] = [m for m in digests(outbox, READERS[0]) if f"<digest.{first}." in str(m["Message-ID"])]

    reader = browser.new_page(viewport={"width": 600, "height": 900})
    reader.set_content(parts_of(older)[1])
    reader.get_by_role("link", name="Unsubscribe").click()
    reader.wait_for_url(f"{site}/unsubscribe/**")
    assert state_of(parts.engine, READERS[0]) == "active", "opening the page must not unsubscribe"
    reader.get_by_role("button", name="Unsubscribe").click()
    expect(reader.get_by_role("heading", name="You are unsubscribed")).to_be_visible()
    assert state_of(parts.engine, READERS[0]) == "unsubscribed"
    assert [(row.issue_number, row.source) for row in unsubscribe_rows(parts.engine)] == [(first, "link")]

    editor = signed_in(browser, site)
    editor.goto(f"{site}/editor")
    rows = editor.locator("table[aria-labelledby=recent] tbody tr")
    assert [row.locator("td").all_inner_texts()[::3] for row in rows.all()] == [
        [f"Issue {second}", "0.0 %"],
        [f"Issue {first}", "50.0 %"],
    ]  # newest first
    folder = Path(SHOTS) if SHOTS else tmp_path
    for scheme in ("light", "dark"):
        for width in (375, 1280):
            view = browser.new_context(viewport={"width": width, "height": 900}, color_scheme=scheme)
            view.add_cookies(
                [{"name": c["name"], "value": c["value"], "url": site} for c in editor.context.cookies()]
            )
            shot = view.new_page()
            shot.goto(f"{site}/editor/issues/{first}/report")
            figures = shot.locator(".figures div").filter(has=shot.get_by_text("Unsubscribed", exact=True))
            expect(figures.locator("dd")).to_have_text("1 (50.0 %)")
            moments = shot.locator("table[aria-labelledby=over-time] tbody tr")
            expect(moments.first.locator("td").last).to_have_text("1")
            shot.locator("#over-time").scroll_into_view_if_needed()
            shot.screenshot(path=str(folder / f"unsubscribed-{scheme}-{width}.png"), full_page=True)
            assert shot.evaluate("document.documentElement.scrollWidth") <= width
            view.close()
