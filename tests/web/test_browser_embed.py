"""The embedded sign-up form in Chromium: a publisher's page on a second loopback origin embeds the
snippet; a reader signs up through the script and, with JavaScript off, through the plain form; both
confirm from the email and are active with the form's name (and the script's reader, their time zone)
recorded. The same page served from an origin not in DIGEST_EMBED_ORIGINS is refused and sends nothing.
Screenshots at 375 and 1280 px, light and dark, land in the test's folder (and DIGEST_SCREENSHOTS)."""

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from digest.web.app import create_app
from digest.web.embed import snippet
from digest.wiring import Parts
from tests.support.browser import free_port, link_in, live_server
from tests.support.editor import EDITORS, PASSWORD
from tests.support.embed import publisher_app
from tests.support.web import notices, subscriber

DIGEST, PUBLISHER, STRANGER = free_port(), free_port(), free_port()
SCHEMES = ["light", "dark"]
WIDTHS = [375, 1280]


@pytest.fixture
def overrides(request: pytest.FixtureRequest) -> dict[str, str]:
    return dict(getattr(request, "param", {}))


@pytest.fixture
def web_env(env: dict[str, str], overrides: dict[str, str]) -> dict[str, str]:
    return {
        **overrides,
        **env,
        "DIGEST_BASE_URL": f"http://127.0.0.1:{DIGEST}",
        "DIGEST_EMBED_ORIGINS": f"http://127.0.0.1:{PUBLISHER}",
        "DIGEST_MIN_FILL_TIME": "1s",
        "DIGEST_TOPICS": "Cardiology,Nutrition",
        "DIGEST_EDITORS": EDITORS,
    }


@pytest.fixture
def sites(parts: Parts) -> Iterator[tuple[str, str]]:
    """The digest, and the publisher's page on an allowed and on a refused origin."""
    app = create_app(parts)
    pasted = snippet(app.state.web, "summary-page")
    with (
        live_server(app, DIGEST),
        live_server(publisher_app(pasted), PUBLISHER) as allowed,  # type: ignore[arg-type]
        live_server(publisher_app(pasted), STRANGER) as refused,  # type: ignore[arg-type]
    ):
        yield f"{allowed}/summaries/42", f"{refused}/summaries/42"


def keep(page: Page, tmp_path: Path, name: str) -> None:
    png = page.screenshot(full_page=True)
    (tmp_path / name).write_bytes(png)
    if folder := os.environ.get("DIGEST_SCREENSHOTS"):
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / name).write_bytes(png)


def fill(page: Page, email: str) -> None:
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Cardiology").check()
    page.get_by_label(re.compile("weekly Research Digest")).check()
    page.wait_for_timeout(1100)  # a person takes longer than DIGEST_MIN_FILL_TIME


def confirm(browser: Browser, outbox: Path) -> None:
    """Open the confirmation link from the email (in the reader's mail app: JavaScript on)."""
    page = browser.new_page()
    page.goto(link_in(outbox, "Confirm your subscription", rf"http://127.0.0.1:{DIGEST}/confirm/\S+"))
    expect(page.get_by_role("heading", name="You are subscribed")).to_be_visible()
    page.close()


def test_a_reader_signs_up_in_place_with_the_script(
    browser: Browser, sites: tuple[str, str], parts: Parts, outbox: Path, tmp_path: Path
) -> None:
    allowed, _ = sites
    context = browser.new_context(timezone_id="America/St_Johns")
    page = context.new_page()
    page.goto(allowed)
    fill(page, "script.reader@example.org")
    page.get_by_role("button", name="Subscribe").click()

    expect(page.get_by_role("status")).to_contain_text("a message is on its way")
    assert page.url == allowed  # no page change
    expect(page.get_by_label("Email address")).to_be_hidden()
    confirm(browser, outbox)
    found = subscriber(parts.engine, "script.reader@example.org")
    assert found is not None
    assert (found.state, found.consent_form, found.timezone, found.topics) == (
        "active",
        f"summary-page on http://127.0.0.1:{PUBLISHER}",
        "America/St_Johns",
        '["cardiology"]',
    )
    context.close()


def test_errors_show_beside_the_form_without_leaving_the_page(
    browser: Browser, sites: tuple[str, str], outbox: Path
) -> None:
    page = browser.new_page()
    page.goto(sites[0])
    page.get_by_label("Email address").fill("not an address")
    page.get_by_label(re.compile("weekly Research Digest")).check()
    page.get_by_role("button", name="Subscribe").click()

    expect(page.get_by_role("status")).to_have_text("Please enter a valid email address.")
    expect(page.get_by_label("Email address")).to_have_attribute("aria-invalid", "true")
    assert notices(outbox) == []
    page.close()


def test_a_reader_without_javascript_signs_up_through_the_plain_form(
    browser: Browser, sites: tuple[str, str], parts: Parts, outbox: Path
) -> None:
    allowed, _ = sites
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(allowed)
    fill(page, "plain.reader@example.org")
    page.get_by_role("button", name="Subscribe").click()

    expect(page.get_by_role("heading", name="One more step")).to_be_visible()
    expect(page.get_by_label("Email address")).to_have_value("plain.reader@example.org")
    page.wait_for_timeout(1100)
    page.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()
    # Browsers send a cross-site Referer as the site's address alone (strict-origin-when-cross-origin).
    page.get_by_role("link", name="Back to the page you came from").click()
    expect(page.get_by_role("heading", name="The publisher's home page")).to_be_visible()
    assert page.url == f"http://127.0.0.1:{PUBLISHER}/"

    confirm(browser, outbox)
    found = subscriber(parts.engine, "plain.reader@example.org")
    assert found is not None
    assert (found.state, found.consent_form) == ("active", f"summary-page on http://127.0.0.1:{PUBLISHER}")
    context.close()


def test_the_same_page_on_a_site_not_allowed_is_refused_and_sends_nothing(
    browser: Browser, sites: tuple[str, str], parts: Parts, outbox: Path
) -> None:
    _, refused = sites
    page = browser.new_page()
    page.goto(refused)
    fill(page, "victim@example.org")
    page.get_by_role("button", name="Subscribe").click()
    # CORS gives a site not on the list nothing to read, so the script can only say it did not work.
    expect(page.get_by_role("status")).to_contain_text("could not be sent from this page")

    plain = browser.new_context(java_script_enabled=False).new_page()
    plain.goto(refused)
    fill(plain, "victim@example.org")
    plain.get_by_role("button", name="Subscribe").click()
    expect(plain.get_by_role("heading", name="Sign-up not accepted here")).to_be_visible()

    assert subscriber(parts.engine, "victim@example.org") is None
    assert notices(outbox) == []
    page.close()


def test_a_filled_honeypot_gets_the_same_answer_and_sends_nothing(
    browser: Browser, sites: tuple[str, str], parts: Parts, outbox: Path
) -> None:
    page = browser.new_page()
    page.goto(sites[0])
    fill(page, "target@example.org")
    page.locator("input[name=website]").fill("https://spam.example.com", force=True)
    page.get_by_role("button", name="Subscribe").click()

    expect(page.get_by_role("status")).to_contain_text("a message is on its way")
    assert subscriber(parts.engine, "target@example.org") is None
    assert notices(outbox) == []
    page.close()


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("width", WIDTHS)
def test_the_embedded_form_fits_and_reads_well(
    browser: Browser, sites: tuple[str, str], tmp_path: Path, width: int, scheme: str
) -> None:
    page = browser.new_page(viewport={"width": width, "height": 900}, color_scheme=scheme)  # type: ignore[arg-type]
    page.goto(sites[0])
    expect(page.get_by_role("button", name="Subscribe")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    keep(page, tmp_path, f"embed-form-{width}-{scheme}.png")
    page.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_role("status")).to_have_text("Please enter a valid email address.")
    keep(page, tmp_path, f"embed-error-{width}-{scheme}.png")
    fill(page, f"shot-{width}-{scheme}@example.org")
    page.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_role("status")).to_contain_text("a message is on its way")
    keep(page, tmp_path, f"embed-done-{width}-{scheme}.png")
    page.close()


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("width", WIDTHS)
def test_the_editors_page_previews_the_snippet_live(
    browser: Browser, sites: tuple[str, str], parts: Parts, tmp_path: Path, width: int, scheme: str
) -> None:
    page = browser.new_page(viewport={"width": width, "height": 900}, color_scheme=scheme)  # type: ignore[arg-type]
    page.goto(f"http://127.0.0.1:{DIGEST}/editor/login")
    page.get_by_label("Name").fill("ada")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Sign-up form for other sites").click()
    expect(page.get_by_role("heading", name="Sign-up form for other sites")).to_be_visible()
    assert "embed/subscribe" in page.locator("#snippet-code").input_value()
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    keep(page, tmp_path, f"embed-editor-{width}-{scheme}.png")
    page.get_by_label("No topics: every reader gets everything").check()
    page.get_by_role("button", name="Update the code and preview").click()
    assert 'name="topics"' not in page.locator("#snippet-code").input_value()
    page.get_by_label("Offer the topics to choose from").check()
    page.get_by_role("button", name="Update the code and preview").click()
    assert 'name="topics"' in page.locator("#snippet-code").input_value()

    fill(page, f"preview-{width}-{scheme}@example.org")  # the preview is the form itself, live
    page.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_role("status")).to_contain_text("a message is on its way")
    found = subscriber(parts.engine, f"preview-{width}-{scheme}@example.org")
    assert found is not None
    assert found.consent_form == f"summary-page on http://127.0.0.1:{DIGEST}"
    page.close()


ALTCHA = {"DIGEST_ALTCHA": "true", "DIGEST_ALTCHA_MAX_NUMBER": "2000"}


@pytest.mark.parametrize("overrides", [ALTCHA], indirect=True, ids=["altcha"])
def test_the_script_solves_the_proof_of_work_when_it_is_on(
    browser: Browser, sites: tuple[str, str], parts: Parts, outbox: Path
) -> None:
    page = browser.new_page()
    page.goto(sites[0])
    fill(page, "worker@example.org")
    page.get_by_role("button", name="Subscribe").click()

    expect(page.get_by_role("status")).to_contain_text("a message is on its way")
    found = subscriber(parts.engine, "worker@example.org")
    assert found is not None
    assert found.state == "pending"
    page.close()


def test_without_javascript_a_too_fast_or_replayed_form_gets_the_same_page_and_sends_nothing(
    browser: Browser, sites: tuple[str, str], parts: Parts, outbox: Path
) -> None:
    page = browser.new_context(java_script_enabled=False).new_page()
    page.goto(sites[0])
    fill(page, "target@example.org")
    page.get_by_role("button", name="Subscribe").click()
    page.get_by_role("button", name="Subscribe").click()  # at once: faster than DIGEST_MIN_FILL_TIME

    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()
    assert subscriber(parts.engine, "target@example.org") is None

    page.goto(sites[0])
    fill(page, "person@example.org")
    page.get_by_role("button", name="Subscribe").click()
    fields = {name: page.locator(f"input[name={name}]").input_value() for name in ("token", "form", "page")}
    page.wait_for_timeout(1100)
    page.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()
    replayed = page.request.post(
        f"http://127.0.0.1:{DIGEST}/embed/subscribe",
        form={**fields, "email": "target@example.org", "consent": "yes", "website": ""},
        headers={"Origin": f"http://127.0.0.1:{DIGEST}"},
    )

    assert replayed.status == 200
    assert "Check your inbox" in replayed.text()
    assert subscriber(parts.engine, "target@example.org") is None
    assert [str(message["To"]) for message in notices(outbox)] == ["person@example.org"]


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("width", WIDTHS)
def test_the_pages_a_reader_without_javascript_meets_fit_and_read_well(
    browser: Browser, sites: tuple[str, str], tmp_path: Path, width: int, scheme: str
) -> None:
    context = browser.new_context(
        java_script_enabled=False,
        viewport={"width": width, "height": 900},
        color_scheme=scheme,  # type: ignore[arg-type]
    )
    page = context.new_page()
    page.goto(sites[0])
    fill(page, f"plain-{width}-{scheme}@example.org")
    page.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_role("heading", name="One more step")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    keep(page, tmp_path, f"embed-step-{width}-{scheme}.png")
    page.wait_for_timeout(1100)
    page.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    keep(page, tmp_path, f"embed-inbox-{width}-{scheme}.png")
    context.close()
