"""An editor in a real browser gives an issue its send time in the date-time field, approves it, and sees
its waves (local-time delivery): each wave's zones with their local time, its UTC time, readers and state.
Looked at on a phone in light and a desktop in dark (the screenshots are kept in the test's folder)."""

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Page, expect

from digest.core.clock import utc_now
from digest.web.app import create_app
from digest.wiring import Parts
from tests.support.browser import free_port, live_server
from tests.support.cli import Digest
from tests.support.editor import EDITORS, PASSWORD
from tests.support.web import draft_issue

PORT = free_port()
ZONE = "Europe/London"


@pytest.fixture
def web_env(env: dict[str, str]) -> dict[str, str]:
    return {
        **env,
        "DIGEST_BASE_URL": f"http://127.0.0.1:{PORT}",
        "DIGEST_EDITORS": EDITORS,
        "DIGEST_DELIVERY": "local",
        "DIGEST_TIMEZONE": ZONE,
    }


@pytest.fixture
def site(parts: Parts) -> Iterator[str]:
    with live_server(create_app(parts), PORT) as url:
        yield url


def sign_in(page: Page, site: str) -> None:
    page.goto(f"{site}/editor")
    page.get_by_label("Name").fill("ada")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Issues in review")).to_be_visible()


@pytest.mark.parametrize(("width", "scheme"), [(375, "light"), (1280, "dark")])
def test_schedule_and_see_the_waves(
    site: str, browser: Browser, digest: Digest, env: dict[str, str], tmp_path: Path, width: int, scheme: str
) -> None:
    for zone in ("Asia/Kathmandu", "America/St_Johns", "Pacific/Kiritimati"):
        digest(
            "subscribers",
            "add",
            f"{zone.split('/')[1].lower()}@example.org",
            "--confirmed",
            "--timezone",
            zone,
        )
    digest("subscribers", "add", "london@example.org", "--confirmed")
    number = draft_issue(digest, env, first=1)
    # Two days on from the real now (a page served by a live server reads the real clock).
    when = (utc_now() + timedelta(days=2)).astimezone(ZoneInfo(ZONE)).replace(hour=7, minute=0)

    page = browser.new_page(viewport={"width": width, "height": 900}, color_scheme=scheme)  # type: ignore[arg-type]
    sign_in(page, site)
    page.goto(f"{site}/editor/issues/{number}")
    expect(page.get_by_text("No time set: it goes with the next send once approved.")).to_be_visible()
    page.get_by_label(f"Send at ({ZONE})").fill(f"{when:%Y-%m-%dT%H:%M}")
    page.get_by_role("button", name="Save send time").click()
    expect(page.get_by_role("status")).to_have_text("Send time saved.")
    expect(page.get_by_text(f"Scheduled for {when:%Y-%m-%d %H:%M} {ZONE}, once approved.")).to_be_visible()
    page.get_by_role("button", name="Approve").click()

    table = page.get_by_role("table", name="Waves")
    rows = table.locator("tbody tr")
    expect(rows).to_have_count(4)
    expect(rows.first).to_contain_text(f"Pacific/Kiritimati {when:%Y-%m-%d} 07:00+14:00")
    expect(rows.nth(1)).to_contain_text(f"Asia/Kathmandu {when:%Y-%m-%d} 07:00+05:45")
    expect(rows.nth(2)).to_contain_text(f"{ZONE} {when:%Y-%m-%d} 07:00")
    expect(rows.nth(3)).to_contain_text("America/St_Johns")
    expect(rows.first).to_contain_text("planned")
    table.scroll_into_view_if_needed()
    page.screenshot(path=str(tmp_path / f"editor-waves-{width}-{scheme}.png"))
    page.close()
