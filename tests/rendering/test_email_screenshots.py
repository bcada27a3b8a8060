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

from tests.support.email_samples import EMAILS

BASELINES = Path(__file__).parents[1] / "baselines"
WIDTHS = (375, 600)
CHANNEL_TOLERANCE = 48
MAX_DIFFERENT = 0.001
UPDATE = os.environ.get("DIGEST_UPDATE_BASELINES") == "1"


def shot(browser: Browser, html: str, width: int) -> tuple[int, bytes]:
    """The page's scroll width and a full-page screenshot at a viewport ``width`` wide."""
    page = browser.new_page(viewport={"width": width, "height": 800})
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
