"""The public archive in a real browser (Chromium), at a phone's 375 px and a desktop's 1280 px, light and
dark: no horizontal scroll, every text at WCAG AA contrast on the background it is drawn on (read from
the rendered styles), no personal link on screen, and the sign-up call to action leading to the form with
the address filled in. Screenshots land in the test's folder (and in ``DIGEST_SCREENSHOTS`` when set, to
look at and keep).
"""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import Engine

from digest.web.app import create_app
from digest.wiring import Parts
from tests.support.archive import Archive, build_archive
from tests.support.browser import free_port, live_server

PORT = free_port()
WIDTHS = (375, 1280)
SCHEMES = ("light", "dark")

# Every element that draws text of its own: its colour, and the first opaque background behind it.
LOW_CONTRAST = """() => {
  const rgb = (value) => (value.match(/[\\d.]+/g) || []).map(Number);
  const channel = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
  const luminance = ([r, g, b]) => 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  const behind = (element) => {
    for (let node = element; node; node = node.parentElement) {
      const colour = rgb(getComputedStyle(node).backgroundColor);
      if (colour.length === 3 || (colour.length === 4 && colour[3] === 1)) return colour.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const found = [];
  for (const element of document.body.querySelectorAll("*")) {
    const own = [...element.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    const box = element.getBoundingClientRect();
    if (!own || box.width < 2 || box.height < 2) continue;
    const ink = luminance(rgb(getComputedStyle(element).color));
    const ground = luminance(behind(element));
    const ratio = (Math.max(ink, ground) + 0.05) / (Math.min(ink, ground) + 0.05);
    if (ratio < 4.5) found.push(`${element.tagName}.${element.className}: ${ratio.toFixed(2)}`);
  }
  return found;
}"""


@pytest.fixture
def web_env(env: dict[str, str]) -> dict[str, str]:
    return {**env, "DIGEST_BASE_URL": f"http://127.0.0.1:{PORT}", "DIGEST_MIN_FILL_TIME": "0"}


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: the pages read through the same use cases on either database (``test_archive.py``)."""
    return f"sqlite:///{tmp_path / 'digest.db'}"


@pytest.fixture
def archive(engine: Engine, tmp_path: Path) -> Archive:
    return build_archive(engine, tmp_path / "archive-summaries", base_url="https://old-host.example.net")


@pytest.fixture
def site(parts: Parts, archive: Archive) -> Iterator[str]:
    with live_server(create_app(parts), PORT) as url:
        yield url


def keep(page: Page, tmp_path: Path, name: str) -> None:
    png = page.screenshot(full_page=True)
    (tmp_path / name).write_bytes(png)
    if folder := os.environ.get("DIGEST_SCREENSHOTS"):
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / name).write_bytes(png)


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("width", WIDTHS)
def test_issue_page_reads_well_and_fits(
    browser: Browser, site: str, archive: Archive, tmp_path: Path, width: int, scheme: str
) -> None:
    page = browser.new_page(viewport={"width": width, "height": 900}, color_scheme=scheme)  # type: ignore[arg-type]
    page.goto(f"{site}/issues/{archive.sent[1]}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Plain headline number 11, and 1 more")
    expect(page.get_by_role("heading", name="Get the next issue by email")).to_be_visible()
    expect(page.get_by_role("link", name="← All issues")).to_be_visible()
    expect(page.locator("a[rel=prev]")).to_be_visible()
    expect(page.locator("a[rel=next]")).to_be_visible()
    expect(page.get_by_text("Unsubscribe", exact=False)).to_have_count(0)
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert page.evaluate(LOW_CONTRAST) == []
    keep(page, tmp_path, f"archive-issue-{width}-{scheme}.png")
    page.close()


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("width", WIDTHS)
def test_archive_index_reads_well_and_fits(
    browser: Browser, site: str, archive: Archive, tmp_path: Path, width: int, scheme: str
) -> None:
    page = browser.new_page(viewport={"width": width, "height": 900}, color_scheme=scheme)  # type: ignore[arg-type]
    page.goto(f"{site}/issues")
    expect(page.get_by_role("heading", name="Past issues")).to_be_visible()
    titles = page.locator(".issues li > a")
    expect(titles).to_have_count(len(archive.sent))
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert page.evaluate(LOW_CONTRAST) == []
    keep(page, tmp_path, f"archive-index-{width}-{scheme}.png")
    page.close()


def test_call_to_action_leads_to_the_sign_up_form(browser: Browser, site: str, archive: Archive) -> None:
    page = browser.new_page(viewport={"width": 375, "height": 800})
    page.goto(f"{site}/issues/{archive.sent[0]}")
    page.get_by_label("Email address").fill("new.reader@example.org")
    page.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_role("heading", name="Subscribe to the Research Digest")).to_be_visible()
    expect(page.get_by_label("Email address")).to_have_value("new.reader@example.org")
    page.close()


def test_the_archive_tells_a_browser_about_its_feed(browser: Browser, site: str, archive: Archive) -> None:
    page = browser.new_page()
    page.goto(f"{site}/issues")
    feed = page.locator('link[rel=alternate][type="application/atom+xml"]').get_attribute("href")
    assert feed == f"{site}/issues/feed.xml"
    answer = page.request.get(feed)
    assert answer.ok
    assert f"<id>{site}/issues/{archive.sent[-1]}</id>" in answer.text()
    page.close()
