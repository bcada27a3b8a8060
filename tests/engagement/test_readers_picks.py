"""Readers' picks (``DIGEST_READERS_PICKS``), on SQLite and PostgreSQL: readers click issue 1's summaries
in the received emails (a scanner follows every link of one email), then issue 2 is composed and sent.
Its email (HTML and text) and its archive page open with "Most read last week": the summaries at least
two people read, most read first; a scanner's burst and a summary one person read do not count. The
block in Chromium at 375 and 1280 px, light and dark (screenshots kept in ``DIGEST_SCREENSHOTS``)."""

import os
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, expect

from digest.wiring import Parts
from tests.support import parts_of
from tests.support.cli import Digest
from tests.support.engagement import click, destinations, send_with_note, tracked_links
from tests.support.web import RELAXED, confirmed, digests

READERS = ["ann@example.org", "bob@example.org", "cy@example.org"]
AGENTS = [
    f"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/130.0.{n} Safari/537.36" for n in range(3)
]
SCANNER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/130.0 Safari/537.36 Edg/130.0"
HEADING = "Most read last week"
SHOTS = os.environ.get("DIGEST_SCREENSHOTS")  # a folder to keep the screenshots in, to look at them


def page(n: int) -> str:
    return f"https://summaries.example.org/s/test-{n}"


@pytest.fixture
def web_env(web_env: dict[str, str]) -> dict[str, str]:
    return {**web_env, **RELAXED}


@pytest.fixture
def clicked(client: TestClient, outbox: Path, digest: Digest, env: dict[str, str], parts: Parts) -> int:
    """Issue 1 sent to three readers: study 2 read by all three, study 1 by two, study 3 by Cy alone;
    a scanner follows every link of Bob's email (each reader follows two links at most: no burst)."""
    for reader in READERS:
        confirmed(client, outbox, reader)
    number = send_with_note(digest, env, parts)
    emails = [digests(outbox, reader)[0] for reader in READERS]
    to = destinations(client, emails[0])
    for agent, studies in zip(AGENTS, [(2, 1), (2, 1), (2, 3)], strict=True):
        for study in studies:
            click(client, to[page(study)][0], agent)
    for url in tracked_links(emails[1])[0]:
        click(client, url, SCANNER)
    return number


def block_of(text: str) -> list[str]:
    """The titles the text part's "Most read last week" lists, in order."""
    found = re.search(rf"{HEADING}:\n(.*?)\n\n", text, re.DOTALL)
    assert found, text
    return re.findall(r"^- (.+) \(read by \d+ readers?\)$", found.group(1), re.MULTILINE)


def test_the_next_issue_shows_the_summaries_most_people_read(
    clicked: int, client: TestClient, outbox: Path, digest: Digest, env: dict[str, str], parts: Parts
) -> None:
    env["DIGEST_READERS_PICKS"] = "true"
    second = send_with_note(digest, env, parts, first=4)
    assert second == clicked + 1
    text, html = parts_of(digests(outbox, READERS[0])[-1])

    assert block_of(text) == ["Plain headline number 2", "Plain headline number 1"]
    assert "(read by 3 readers)" in text
    assert "(read by 2 readers)" in text
    assert HEADING in html
    block = html[html.index(HEADING) : html.index("In this issue")]
    assert block.index("Plain headline number 2") < block.index("Plain headline number 1")
    assert "Plain headline number 3" not in block
    assert "read by 3 readers" in block
    # Its links are tracked like every content link of issue 2, and lead to the summaries' pages.
    links = re.findall(r'href="([^"]+)"', block)
    assert len(links) == 2
    assert all(link.startswith("https://digest.example.org/r/") for link in links)
    targets = [
        client.get(link.removeprefix("https://digest.example.org")).headers["location"] for link in links
    ]
    assert targets == [page(2), page(1)]

    archived = client.get(f"/issues/{second}").text
    assert HEADING in archived
    shown = archived[archived.index(HEADING) :]
    assert shown.index("Plain headline number 2") < shown.index("Plain headline number 1")


def test_off_by_default(
    clicked: int, outbox: Path, digest: Digest, env: dict[str, str], parts: Parts
) -> None:
    send_with_note(digest, env, parts, first=4)
    text, html = parts_of(digests(outbox, READERS[0])[-1])
    assert HEADING not in text
    assert HEADING not in html


def test_no_block_when_no_summary_was_read_by_two_people(
    client: TestClient, outbox: Path, digest: Digest, env: dict[str, str], parts: Parts
) -> None:
    for reader in READERS:
        confirmed(client, outbox, reader)
    send_with_note(digest, env, parts)
    to = destinations(client, digests(outbox, READERS[0])[0])
    click(client, to[page(1)][0], AGENTS[0])  # one reader is no pick
    env["DIGEST_READERS_PICKS"] = "true"
    second = send_with_note(digest, env, parts, first=4)
    text, html = parts_of(digests(outbox, READERS[0])[-1])
    assert HEADING not in text
    assert HEADING not in html
    assert HEADING not in client.get(f"/issues/{second}").text


def test_the_block_in_chromium_at_phone_and_desktop_widths_light_and_dark(
    clicked: int,
    browser: Browser,
    client: TestClient,
    outbox: Path,
    digest: Digest,
    env: dict[str, str],
    parts: Parts,
    tmp_path: Path,
) -> None:
    env["DIGEST_READERS_PICKS"] = "true"
    second = send_with_note(digest, env, parts, first=4)
    html = parts_of(digests(outbox, READERS[0])[-1])[1]
    archived = client.get(f"/issues/{second}").text
    folder = Path(SHOTS) if SHOTS else tmp_path
    for scheme in ("light", "dark"):
        for width in (375, 1280):
            view = browser.new_context(viewport={"width": width, "height": 900}, color_scheme=scheme)
            for name, content in (("email", html), ("archive", archived)):
                shown = view.new_page()
                shown.set_content(content, wait_until="load")
                heading = shown.get_by_role("heading", name=HEADING)
                expect(heading).to_be_visible()
                heading.scroll_into_view_if_needed()
                expect(shown.get_by_role("link", name="Plain headline number 2").first).to_be_visible()
                shown.screenshot(path=str(folder / f"picks-{name}-{scheme}-{width}.png"))
                assert shown.evaluate("document.documentElement.scrollWidth") <= width
            view.close()
