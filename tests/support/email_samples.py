"""The two emails the quality tests hold to the bar: a full digest and the confirmation email."""

from datetime import UTC, datetime

import time_machine

from digest.mail import MemoryMailer
from digest.rendering import Markers, Personalizer, RecipientLinks, Renderer, SiteView
from digest.subscribers.notices import NoticeSender, NoticeSettings
from digest.subscribers.subscriptions import Notice, NoticeKind
from digest.tokens import Tokens
from tests.support.rendering import ISSUE

BASE_URL = "https://digest.example.org"
SITE = SiteView(base_url=BASE_URL, postal_address="Research Digest, 1 Example Street, Springfield")
LINKS = RecipientLinks(
    unsubscribe=f"{BASE_URL}/unsubscribe/TOKEN", preferences=f"{BASE_URL}/preferences/TOKEN"
)


def digest_html() -> str:
    rendered = Renderer(SITE).render_issue(ISSUE)
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


EMAILS = {"digest": digest_html, "confirmation": confirmation_html}
