"""The two emails the quality tests hold to the bar: a full digest and the confirmation email."""

import io
from datetime import UTC, datetime

import time_machine
from PIL import Image, ImageDraw

from digest.i18n import language
from digest.mail import MemoryMailer
from digest.rendering import Markers, Personalizer, RecipientLinks, Renderer, SiteView
from digest.subscribers.notices import NoticeSender, NoticeSettings
from digest.subscribers.subscriptions import Notice, NoticeKind
from digest.tokens import Tokens
from tests.support.rendering import ISSUE, RTL_ISSUE, spanish_issue

BASE_URL = "https://digest.example.org"
LOGO_URL = f"{BASE_URL}/static/logo.png"
SITE = SiteView(
    base_url=BASE_URL,
    postal_address="Research Digest, 1 Example Street, Springfield",
    brand_color="#0e4d64",
    logo_url=LOGO_URL,
    logo_alt="Research Digest logo",
    logo_width=120,
)
LINKS = RecipientLinks(
    unsubscribe=f"{BASE_URL}/unsubscribe/TOKEN", preferences=f"{BASE_URL}/preferences/TOKEN"
)


def digest_html() -> str:
    rendered = Renderer(SITE).render_issue(ISSUE)
    return Personalizer(rendered.html, Markers.of(rendered.markers)).fill(LINKS)


def right_to_left_html() -> str:
    """A digest whose Arabic and Hebrew summaries lay out right to left beside an English one."""
    rendered = Renderer(SITE).render_issue(RTL_ISSUE)
    return Personalizer(rendered.html, Markers.of(rendered.markers)).fill(LINKS)


def confirmation_html() -> str:
    renderer = Renderer(SITE)
    settings = NoticeSettings("Research Digest", BASE_URL, "digest@news.example.org", True, "Welcome.", 7)
    sender = NoticeSender(renderer, MemoryMailer(), Tokens(["a test key that is long enough"]), settings)
    # The confirmation link is timestamped: a fixed clock keeps the email (and its screenshot) the same.
    with time_machine.travel(datetime(2026, 11, 23, 9, 0, tzinfo=UTC), tick=False):
        view = sender.view(Notice(NoticeKind.confirm, 42, "reader@example.org", "nonce"), None)
    assert view is not None
    return renderer.render_notice(view).html


def logo_png() -> bytes:
    """A 240x60 white mark on transparency, the logo the browser tests serve at ``LOGO_URL``."""
    image = Image.new("RGBA", (240, 60), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.ellipse((2, 2, 58, 58), fill=(255, 255, 255, 255))
    draw.rectangle((24, 14, 36, 46), fill=(14, 77, 100, 255))
    draw.rectangle((14, 24, 46, 36), fill=(14, 77, 100, 255))
    draw.rounded_rectangle((72, 18, 236, 42), radius=6, fill=(255, 255, 255, 255))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def spanish_digest_html() -> str:
    """The digest of a Spanish list (DIGEST_LANGUAGE=es)."""
    rendered = Renderer(SITE, language=language("es")).render_issue(spanish_issue())
    return Personalizer(rendered.html, Markers.of(rendered.markers)).fill(LINKS)


EMAILS = {
    "digest": digest_html,
    "confirmation": confirmation_html,
    "digest-es": spanish_digest_html,
    "digest-rtl": right_to_left_html,
}
