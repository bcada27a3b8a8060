"""``DIGEST_TRACKING=individual`` in Chromium, on SQLite and PostgreSQL: a reader opens the digest they
received and clicks a summary; the click is recorded as theirs. The sign-up page and the email's footer
say what is recorded, at 375 and 1280 px, light and dark (screenshots kept in ``DIGEST_SCREENSHOTS``,
looked at); the Spanish wording says the same.
"""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from digest.core.engagement import Tracking, tracking_notice
from digest.i18n import language
from digest.tokens import ReaderTags
from digest.web.app import create_app
from digest.wiring import Parts
from tests.support import parts_of
from tests.support.browser import free_port, live_server
from tests.support.cli import Digest
from tests.support.engagement import clicks, send_with_note
from tests.support.web import digests, subscriber

PORT = free_port()
READER = "ann@example.org"
# A reader's browser (headless Chromium names itself "HeadlessChrome", which counts as a bot).
ANN = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/130.0 Safari/537.36"
SHOTS = os.environ.get("DIGEST_SCREENSHOTS")
SAID = "records which links you follow"


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    return {**env, "DIGEST_BASE_URL": f"http://127.0.0.1:{PORT}", "DIGEST_TRACKING": "individual"}


@pytest.fixture
def site(parts: Parts) -> Iterator[str]:
    with live_server(create_app(parts), PORT) as url:
        yield url


def test_a_click_in_a_received_email_is_recorded_as_the_readers(
    site: str, browser: Browser, digest: Digest, env: dict[str, str], parts: Parts, outbox: Path
) -> None:
    digest("subscribers", "add", READER, "--confirmed")
    digest("subscribers", "add", "bob@example.org", "--confirmed")
    number = send_with_note(digest, env, parts)
    html = parts_of(digests(outbox, READER)[0])[1]
    ann = subscriber(parts.engine, READER)
    assert ann is not None

    context = browser.new_context(user_agent=ANN, viewport={"width": 600, "height": 900})
    page = context.new_page()
    page.set_content(html, wait_until="load")
    link = page.locator("h2 a").first
    href = link.get_attribute("href")
    assert href is not None
    assert href.startswith(f"{site}/r/")
    tag = href.rsplit("/", 1)[1]
    assert ReaderTags(parts.settings.signing_keys).read(tag, issue=number).subscriber == ann.id
    with page.expect_request(lambda request: request.url.startswith("https://")) as left:
        link.click()  # the site answers 302 to the summary's own page (not reachable from here)
    assert left.value.url == parts.click_tokens.read(href.rsplit("/", 2)[1]).url
    assert left.value.redirected_from is not None
    assert left.value.redirected_from.url == href
    context.close()

    (row,) = clicks(parts.engine)
    assert row.subscriber_id == ann.id
    assert row.issue_number == number


def test_the_sign_up_page_and_the_footer_say_what_is_recorded(
    site: str,
    browser: Browser,
    digest: Digest,
    env: dict[str, str],
    parts: Parts,
    outbox: Path,
    tmp_path: Path,
) -> None:
    digest("subscribers", "add", READER, "--confirmed")
    send_with_note(digest, env, parts)
    html = parts_of(digests(outbox, READER)[0])[1]
    folder = Path(SHOTS) if SHOTS else tmp_path
    for scheme in ("light", "dark"):
        for width in (375, 1280):
            view = browser.new_context(viewport={"width": width, "height": 900}, color_scheme=scheme)
            page = view.new_page()
            page.goto(f"{site}/subscribe")
            notice = page.locator("#tracking")
            expect(notice).to_be_visible()
            expect(notice).to_contain_text(SAID)
            expect(notice).to_contain_text("preferences page")
            page.screenshot(path=str(folder / f"individual-signup-{scheme}-{width}.png"), full_page=True)
            assert page.evaluate("document.documentElement.scrollWidth") <= width

            page = view.new_page()  # a page of its own: the site's CSP would block the email's styles
            page.set_content(html, wait_until="load")
            footer = page.get_by_text(SAID)
            expect(footer).to_be_visible()
            footer.scroll_into_view_if_needed()
            page.screenshot(path=str(folder / f"individual-footer-{scheme}-{width}.png"))
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            view.close()


def test_the_spanish_notice_says_the_same() -> None:
    words = language("es").translations
    notice = tracking_notice(Tracking.individual, words=words)
    assert "registra qué enlaces sigue usted" in notice
    assert "página de preferencias" in notice
    with_opens = tracking_notice(Tracking.individual, words=words, opens=True)
    assert "registra cuándo lo abre" in with_opens
    for tracking in Tracking:
        assert tracking_notice(tracking) != tracking_notice(tracking, words=words)
