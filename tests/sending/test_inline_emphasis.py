"""Inline emphasis in summaries, safely, as readers get it (issue 15).

One summary carries ``<i>``, ``<sup>``, ``<script>``, ``<img onerror=...>``, an https: and a javascript:
link in every text field (headline, title, key takeaway, what it means, study type, evidence level,
journal, topic). It is ingested from a folder, composed, approved and sent through the outbox, a real SMTP
server (aiosmtpd) and the real SendGrid client against the stand-in; then the public archive shows the
issue. Everywhere the italics and the superscript render, nothing else does (no script, image, handler or
link, and no tag shown as characters), the text part and the subject show the words without tags.
"""

import re
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient

from digest.devtools.sendgrid_standin import SendGridStandIn
from tests.support import parts_of, read_outbox, summary, write_summaries
from tests.support.cli import Digest
from tests.support.sendgrid import KEY, SPEC
from tests.support.smtp import Recorder, free_port

MARKUP = (
    '<i>APOE4</i> x<sup>2</sup> <script>alert("s")</script><img src="x" onerror="alert(1)">kept '
    '<a href="https://example.org/ok">safe link</a> <a href="javascript:alert(2)">bad link</a>'
)
WORDS = "APOE4 x^2 kept safe link bad link"  # the words of MARKUP, as the text part writes them
READERS = ["ada@example.org", "bob@example.org"]


class Body(HTMLParser):
    """The body of an HTML email or page: its tags with their attributes, and its visible text."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self._hidden = 0
        self.feed(markup[markup.index("<body") :])

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._hidden += tag in ("style", "script")

    def handle_endtag(self, tag: str) -> None:
        self._hidden -= tag in ("style", "script")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.text.append(data)


def assert_only_emphasis_renders(markup: str, where: str) -> None:
    body = Body(markup)
    names = [tag for tag, _ in body.tags]
    # The headline (in the list and above the item), takeaway, meaning and study type keep their emphasis;
    # the evidence badge, the citation and the topics show their words only.
    assert names.count("i") == names.count("sup") == 5, (where, names.count("i"), names.count("sup"))
    assert "script" not in names, where
    assert "img" not in names, where
    for tag, attributes in body.tags:
        assert not [name for name in attributes if name.startswith("on")], (where, tag, attributes)
        href = attributes.get("href") or ""
        assert not href.startswith("javascript"), (where, href)
        assert "example.org/ok" not in href, (where, href)
    shown = "".join(body.text)
    assert "alert(" not in markup, where
    for typed in ("<i>", "<sup>", "<script", "<img", "<a "):
        assert typed not in shown, (where, typed)  # never a tag shown as characters
    assert "APOE4 x2 kept safe link bad link" in shown, where


def assert_delivered_safely(subject: str, plain: str, html: str, where: str) -> None:
    assert subject.startswith(f"Headline {WORDS}"), (where, subject)
    for field in ("Headline", "Takeaway", "Means"):
        assert f"{field} {WORDS}" in plain, (where, field)
    assert f"Trial {WORDS}" in plain, where
    assert f"Journal {WORDS}" in plain, where
    assert not re.search(r"<(i|sup|script|img|a)\b|alert\(|javascript", plain), (where, plain)
    assert_only_emphasis_renders(html, where)


@pytest.fixture
def approved(env: dict[str, str], digest: Digest, tmp_path: Path) -> None:
    """Issue 1, holding the marked-up summary, approved for two readers."""
    write_summaries(
        tmp_path / "summaries",
        "week.json",
        [
            summary(
                1,
                title=f"Title {MARKUP}",
                headline=f"Headline {MARKUP}",
                key_takeaway=f"Takeaway {MARKUP}",
                what_it_means=f"Means {MARKUP}",
                study_type=f"Trial {MARKUP}",
                evidence_level=f"Level {MARKUP}",
                topics=["<i>Genes</i><script>x</script>"],
                source={"journal": f"Journal {MARKUP}", "doi": "10.5555/inline", "published": "2026"},
            ),
            summary(2),
        ],
    )
    digest("db", "upgrade")
    digest("ingest")
    for reader in READERS:
        digest("subscribers", "add", reader, "--confirmed")
    digest("compose")
    digest("approve", "1")


def assert_the_archive_shows_the_same(client: TestClient) -> None:
    page = client.get("/issues/1")
    assert page.status_code == 200, page.text[:300]
    assert_only_emphasis_renders(page.text, "archive")


@pytest.mark.usefixtures("clock_at_now", "approved")
def test_the_outbox_and_the_archive(digest: Digest, outbox: Path, client: TestClient) -> None:
    digest("send")

    messages = read_outbox(outbox)
    assert sorted(str(message["To"]) for message in messages) == READERS
    for message in messages:
        plain, html = parts_of(message)
        assert_delivered_safely(str(message["Subject"]), plain, html, "outbox")
    assert_the_archive_shows_the_same(client)


@pytest.fixture
def smtp_server() -> Iterator[tuple[Recorder, int]]:
    recorder = Recorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield recorder, controller.port
    controller.stop()


@pytest.mark.usefixtures("clock_at_now", "approved")
def test_smtp(digest: Digest, env: dict[str, str], smtp_server: tuple[Recorder, int]) -> None:
    recorder, port = smtp_server
    env.update(DIGEST_EMAIL_BACKEND="smtp", DIGEST_SMTP_URL=f"smtp://127.0.0.1:{port}")

    digest("send")

    messages = [message_from_bytes(r.message.as_bytes(), policy=policy.default) for r in recorder.received]
    assert sorted(str(message["To"]) for message in messages) == READERS
    for message in messages:
        assert isinstance(message, EmailMessage)
        plain, html = parts_of(message)
        assert_delivered_safely(str(message["Subject"]), plain, html, "smtp")


@pytest.mark.usefixtures("clock_at_now", "approved")
def test_sendgrid(digest: Digest, env: dict[str, str], tmp_path: Path) -> None:
    with SendGridStandIn(KEY, SPEC, tmp_path / "accepted.jsonl") as sendgrid:
        env.update(
            DIGEST_EMAIL_BACKEND="sendgrid", DIGEST_SENDGRID_API_KEY=KEY, DIGEST_SENDGRID_HOST=sendgrid.url
        )
        digest("send")
        bodies = list(sendgrid.bodies)

    delivered = []
    for body in bodies:
        content = {part["type"]: part["value"] for part in body["content"]}
        assert_delivered_safely(body["subject"], content["text/plain"], content["text/html"], "sendgrid")
        delivered += [recipient["email"] for person in body["personalizations"] for recipient in person["to"]]
    assert sorted(delivered) == READERS
