"""The digest and the confirmation email in Chromium at 375 px and 600 px: no horizontal scrolling, with
and without ``<style>`` blocks, and screenshots compared with reviewed baselines in ``tests/baselines/``.

The comparison tolerates antialiasing: a pixel counts as different when a channel differs by more than
``CHANNEL_TOLERANCE``, and at most ``MAX_DIFFERENT`` of the pixels may. To change a baseline on purpose,
run ``DIGEST_UPDATE_BASELINES=1 .venv/bin/python -m pytest tests/rendering/test_email_screenshots.py``,
look at every changed PNG, and commit them: the baselines are the reviewed record of how the emails look.
"""

import io
import os
import re
from pathlib import Path

import pytest
from PIL import Image, ImageChops
from playwright.sync_api import Browser

from digest.core.contrast import AA, contrast_ratio
from tests.support.email_samples import EMAILS, LOGO_URL, logo_png

BASELINES = Path(__file__).parents[1] / "baselines"
WIDTHS = (375, 600)
CHANNEL_TOLERANCE = 48
MAX_DIFFERENT = 0.001
UPDATE = os.environ.get("DIGEST_UPDATE_BASELINES") == "1"


def shot(browser: Browser, html: str, width: int, scheme: str = "light") -> tuple[int, bytes]:
    """The page's scroll width and a full-page screenshot at a viewport ``width`` wide."""
    page = browser.new_page(viewport={"width": width, "height": 800}, color_scheme=scheme)  # type: ignore[arg-type]
    page.route(LOGO_URL, lambda route: route.fulfill(body=logo_png(), content_type="image/png"))
    try:
        page.set_content(html, wait_until="load")
        scroll_width: int = page.evaluate("document.documentElement.scrollWidth")
        return scroll_width, page.screenshot(full_page=True)
    finally:
        page.close()


def share_different(actual: Image.Image, expected: Image.Image) -> float:
    if actual.size != expected.size:
        return 1.0
    difference = ImageChops.difference(actual.convert("RGB"), expected.convert("RGB"))
    mask = difference.point(lambda value: 255 if value > CHANNEL_TOLERANCE else 0).convert("L")
    different = mask.histogram()[255]
    return different / (actual.size[0] * actual.size[1])


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", sorted(EMAILS))
def test_no_horizontal_scroll_and_matches_its_baseline(browser: Browser, name: str, width: int) -> None:
    scroll_width, png = shot(browser, EMAILS[name](), width)
    assert scroll_width <= width, f"{name} scrolls sideways at {width}px ({scroll_width}px wide)"
    baseline = BASELINES / f"{name}-{width}.png"
    if UPDATE or not baseline.exists():
        baseline.write_bytes(png)
        if not UPDATE:
            pytest.fail(f"no baseline yet: wrote {baseline}; look at it, then commit it")
        return
    share = share_different(Image.open(io.BytesIO(png)), Image.open(baseline))
    assert share <= MAX_DIFFERENT, (
        f"{name} at {width}px differs from {baseline.name} in {share:.1%} of its pixels"
    )


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", sorted(EMAILS))
def test_without_style_blocks_the_layout_still_fits(browser: Browser, name: str, width: int) -> None:
    """Some Gmail contexts drop ``<style>``: the inline styles alone must hold the layout."""
    bare = re.sub(r"<style[^>]*>.*?</style>", "", EMAILS[name](), flags=re.DOTALL)
    scroll_width, _ = shot(browser, bare, width)
    assert scroll_width <= width


@pytest.mark.parametrize("width", WIDTHS)
def test_the_digest_in_dark_mode_matches_its_baseline(browser: Browser, width: int) -> None:
    """Apple Mail and others follow prefers-color-scheme: the digest repaints itself dark."""
    _, png = shot(browser, EMAILS["digest"](), width, scheme="dark")
    baseline = BASELINES / f"digest-dark-{width}.png"
    if UPDATE or not baseline.exists():
        baseline.write_bytes(png)
        if not UPDATE:
            pytest.fail(f"no baseline yet: wrote {baseline}; look at it, then commit it")
        return
    share = share_different(Image.open(io.BytesIO(png)), Image.open(baseline))
    assert share <= MAX_DIFFERENT, f"digest in dark mode at {width}px differs from {baseline.name}"
    assert share_different(Image.open(io.BytesIO(png)), Image.open(BASELINES / f"digest-{width}.png")) > 0.3


# Every visible element holding words of its own: its computed colour and the nearest painted ground.
TEXT_AND_GROUND = """() => [...document.body.querySelectorAll('*')]
    .filter(element => element.getClientRects().length > 0 && [...element.childNodes].some(
        node => node.nodeType === Node.TEXT_NODE && node.textContent.trim()))
    .map(element => {
        let ground = element, colour = 'rgba(0, 0, 0, 0)';
        while (ground && (colour === 'rgba(0, 0, 0, 0)' || colour === 'transparent')) {
            colour = getComputedStyle(ground).backgroundColor; ground = ground.parentElement;
        }
        return [getComputedStyle(element).color, colour, element.textContent.trim().slice(0, 30)];
    })"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_text_keeps_aa_contrast_on_its_ground(browser: Browser, scheme: str) -> None:
    """WCAG AA for every word the reader sees, from the styles Chromium computed, in each scheme."""
    page = browser.new_page(viewport={"width": 600, "height": 800}, color_scheme=scheme)  # type: ignore[arg-type]
    try:
        page.set_content(EMAILS["digest"](), wait_until="load")
        pairs = page.evaluate(TEXT_AND_GROUND)
    finally:
        page.close()
    assert any("Research Digest" in text for _, _, text in pairs)  # the masthead is among them
    for ink, ground, text in pairs:
        assert contrast_ratio(ink, ground) >= AA, (text, ink, ground)


# Where each item's "Read the full summary" link starts and ends, and the item's computed direction.
READ_MORE_EDGES = """() => [...document.querySelectorAll('a > span[dir]')].map(label => {
    const block = label.closest('div[dir]'), box = label.getBoundingClientRect();
    return [getComputedStyle(block).direction, box.left, box.right];
})"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", WIDTHS)
def test_right_to_left_items_start_on_the_right(browser: Browser, width: int, scheme: str) -> None:
    """Chromium lays the Arabic and Hebrew items out from the right edge and the English one from the
    left, each inside the 24 px margins."""
    page = browser.new_page(viewport={"width": width, "height": 800}, color_scheme=scheme)  # type: ignore[arg-type]
    try:
        page.set_content(EMAILS["digest-rtl"](), wait_until="load")
        edges = page.evaluate(READ_MORE_EDGES)
    finally:
        page.close()
    assert [direction for direction, _, _ in edges] == ["rtl", "ltr", "rtl"]
    for direction, left, right in edges:
        if direction == "rtl":
            assert width - 24 - 1 <= right <= width - 24 + 1, (width, left, right)
        else:
            assert 24 - 1 <= left <= 24 + 1, (width, left, right)
