"""A reader in a real browser changes their time zone on the preferences page: types part of a city, takes
the IANA zone the field suggests, saves, and sees it; a made-up zone is refused with its name. Looked at
in light and dark, on a phone and a desktop (the screenshots are kept in the test's folder)."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from digest.db.engine import unit_of_work
from digest.subscribers import records
from digest.tokens import Purpose
from digest.web.app import create_app
from digest.wiring import Parts
from tests.support import NOW
from tests.support.browser import free_port, live_server

PORT = free_port()
EMAIL = "reader@example.org"


@pytest.fixture
def web_env(env: dict[str, str]) -> dict[str, str]:
    return {**env, "DIGEST_BASE_URL": f"http://127.0.0.1:{PORT}", "DIGEST_TIMEZONE": "Europe/London"}


@pytest.fixture
def site(parts: Parts) -> Iterator[str]:
    with live_server(create_app(parts), PORT) as url:
        yield url


def preferences_path(parts: Parts) -> str:
    with unit_of_work(parts.engine) as session:
        reader = records.add(session, EMAIL, confirmed=True, consent=records.Consent(form="test"), now=NOW)
        return f"/preferences/{parts.tokens.sign(Purpose.preferences, reader.id or 0, reader.token_nonce)}"


def zone_of(parts: Parts) -> str | None:
    with unit_of_work(parts.engine) as session:
        return records.get(session, EMAIL).timezone


@pytest.mark.parametrize(("width", "scheme"), [(375, "light"), (1280, "dark")])
def test_change_the_time_zone_on_the_preferences_page(
    site: str, browser: Browser, parts: Parts, tmp_path: Path, width: int, scheme: str
) -> None:
    page = browser.new_page(viewport={"width": width, "height": 900}, color_scheme=scheme)  # type: ignore[arg-type]
    page.goto(site + preferences_path(parts))
    field = page.get_by_label("Your time zone")
    expect(field).to_have_attribute("placeholder", "Europe/London")
    assert page.locator("#zones option[value='Asia/Kathmandu']").count() == 1  # what the field suggests

    field.fill("Asia/Atlantis")
    page.get_by_role("button", name="Save time zone").click()
    expect(page.get_by_role("alert")).to_have_text(
        "Nothing was saved: unknown time zone 'Asia/Atlantis': give an IANA name such as Europe/London."
    )
    assert zone_of(parts) is None

    page.get_by_label("Your time zone").fill("Asia/Kathmandu")
    page.get_by_role("button", name="Save time zone").click()
    expect(page.get_by_role("status")).to_have_text(
        "Saved. The digest reaches you by the time in Asia/Kathmandu."
    )
    expect(page.get_by_label("Your time zone")).to_have_value("Asia/Kathmandu")
    assert zone_of(parts) == "Asia/Kathmandu"
    page.get_by_label("Your time zone").scroll_into_view_if_needed()
    page.screenshot(path=str(tmp_path / f"preferences-zone-{width}-{scheme}.png"), full_page=True)
    page.close()
