"""A Spanish reader in Chromium (DIGEST_LANGUAGE=es): sign up, confirm from the email, open the
preferences and the unsubscribe page, read the archive; every page in Spanish, with ``lang="es"``, no
English message of the catalogue left, and no sideways scrolling at 375 and 1280 px, light and dark.

Set ``DIGEST_SCREENSHOTS=/some/folder`` to keep each page's screenshot there for a person to look at.
"""

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from digest.tokens import Purpose
from digest.web.app import create_app
from digest.wiring import Parts
from tests.support import write_summaries
from tests.support.browser import free_port, link_in, live_server
from tests.support.cli import Digest
from tests.support.translations import english_left_in, spanish_summaries
from tests.support.web import subscriber

PORT = free_port()
WIDTHS = (375, 1280)
SCREENSHOTS = os.environ.get("DIGEST_SCREENSHOTS")


@pytest.fixture
def web_env(env: dict[str, str]) -> dict[str, str]:
    return {
        **env,
        "DIGEST_BASE_URL": f"http://127.0.0.1:{PORT}",
        "DIGEST_MIN_FILL_TIME": "1s",
        "DIGEST_LANGUAGE": "es",
        "DIGEST_TOPICS": "diabetes,corazón",
    }


@pytest.fixture
def site(parts: Parts) -> Iterator[str]:
    with live_server(create_app(parts), PORT) as url:
        yield url


def looked_at(browser: Browser, url: str, name: str) -> None:
    """``url`` at each width and scheme: Spanish, laid out left to right, no English, no sideways scroll."""
    for width in WIDTHS:
        for scheme in ("light", "dark"):
            page = browser.new_page(viewport={"width": width, "height": 900}, color_scheme=scheme)
            try:
                page.goto(url)
                assert page.evaluate("[document.documentElement.lang, document.documentElement.dir]") == [
                    "es",
                    "ltr",
                ]
                scroll_width = page.evaluate("document.documentElement.scrollWidth")
                assert scroll_width <= width, f"{name} scrolls sideways at {width}px"
                assert english_left_in(page.inner_text("body")) == [], name
                if SCREENSHOTS:
                    path = Path(SCREENSHOTS) / f"es-{name}-{width}-{scheme}.png"
                    page.screenshot(path=str(path), full_page=True)
            finally:
                page.close()


def subscribe(page: Page, site: str, email: str) -> None:
    page.goto(f"{site}/subscribe")
    expect(page.get_by_role("heading", name="Suscríbase a Research Digest")).to_be_visible()
    page.get_by_label("Correo electrónico").fill(email)
    page.get_by_label(re.compile("Sí, envíenme el Research Digest")).check()
    page.wait_for_timeout(1100)  # the minimum fill time keeps bots out
    page.get_by_role("button", name="Suscribirse").click()
    expect(page.get_by_role("heading", name="Revise su bandeja de entrada")).to_be_visible()


def test_a_spanish_reader_sees_spanish_pages(
    site: str, browser: Browser, outbox: Path, parts: Parts, digest: Digest, env: dict[str, str]
) -> None:
    looked_at(browser, f"{site}/subscribe", "subscribe")
    page = browser.new_page()
    subscribe(page, site, "lector@example.org")
    confirm = link_in(outbox, "Confirme su suscripción", rf"{site}/confirm/\S+")
    page.goto(confirm)  # the page confirms by submitting itself
    expect(page.get_by_role("heading", name="Su suscripción está activa")).to_be_visible()
    looked_at(browser, confirm, "confirmed")

    preferences = link_in(outbox, "Le damos la bienvenida", rf"{site}/preferences/\S+")
    page.goto(preferences)
    expect(page.get_by_role("heading", name="Sus preferencias")).to_be_visible()
    page.get_by_label("diabetes").check()
    page.get_by_role("button", name="Guardar temas").click()
    expect(page.get_by_role("status")).to_have_text(
        "Guardado. Solo recibirá los resúmenes de estos temas: diabetes."
    )
    looked_at(browser, preferences, "preferences")

    reader = subscriber(parts.engine, "lector@example.org")
    assert reader is not None
    token = parts.tokens.sign(Purpose.unsubscribe, reader.id or 0, reader.token_nonce)
    looked_at(browser, f"{site}/unsubscribe/{token}", "unsubscribe")
    env["DIGEST_LANGUAGE"] = "es"  # the same list, composing and sending its first issue
    write_summaries(Path(env["DIGEST_SOURCES"]), "semana.json", spanish_summaries())
    digest("ingest")
    digest("compose")
    digest("approve", "1")
    digest("send")
    looked_at(browser, f"{site}/issues", "archive")
    looked_at(browser, f"{site}/issues/1", "archived-issue")
    looked_at(browser, f"{site}/confirm/not-a-token", "link-problem")
    looked_at(browser, f"{site}/no-such-page", "not-found")
    page.close()
