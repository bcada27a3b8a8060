"""Nothing written from outside can steal a reader's personal links (issue 13 item 3).

Summaries from a folder, a feed and the push API, and an editor's subject, preheader and note, all carry
``https://evil.example/?u=__DIGEST_PREFERENCES_URL__&v=__DIGEST_UNSUBSCRIBE_URL__`` (plainly, in another
case, and as HTML entities): were a marker filled there, every delivered email would send that reader's
preferences link (export, erase, unsubscribe) to a third party. And should marker-like text ever reach a
stored render (a template or a sanitiser that lets it through), only the render's own random-keyed
markers are filled: the fixed markers of old and another render's stay words.

Each issue goes to readers getting the whole issue and to one getting a variant (their topics select
part of it), through the outbox, a real SMTP server (aiosmtpd) and the real SendGrid client against the
stand-in, whose substitutions are applied here as SendGrid applies them (subject and every part). Each
delivered email holds its reader's links exactly where the template put them, and nowhere else.
"""

import json
import re
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from digest.core.personalize import Markers
from digest.db.engine import make_engine
from digest.db.models import Issue
from digest.devtools.sendgrid_standin import SendGridStandIn
from tests.support import parts_of, read_outbox, summary, write_summaries
from tests.support.cli import Digest
from tests.support.editor import EDITORS, PASSWORD, act, sign_in
from tests.support.feed_server import FeedServer, serving
from tests.support.feeds import json_feed
from tests.support.sendgrid import KEY, SPEC
from tests.support.smtp import Recorder, free_port

EVIL = "https://evil.example/?u=__DIGEST_PREFERENCES_URL__&v=__DIGEST_UNSUBSCRIBE_URL__"
EVIL_LOWER = "https://evil.example/?u=__digest_preferences_url__&v=__digest_unsubscribe_url__"
EVIL_ENTITIES = "https://evil.example/?u=&#95;_DIGEST_PREFERENCES_URL__&v=&#x5f;_DIGEST_UNSUBSCRIBE_URL__"
HOSTILE = f"{EVIL} {EVIL_LOWER} {EVIL_ENTITIES}"
# What a stolen link looks like once filled: a personal link inside the attacker's address.
STOLEN = re.compile(r"evil\.example/\?u=[^\s\"'<>]*digest\.example\.org|[?&][uv]=https")
WHOLE_ISSUE = ["ada@example.org", "bob@example.org"]
PART_OF_IT = "cy@example.org"  # chose a topic: gets a variant, rendered when the send starts
READERS = sorted([*WHOLE_ISSUE, PART_OF_IT])
UNSUBSCRIBE = re.compile(r"^Unsubscribe: (https://digest\.example\.org/unsubscribe/\S+)$", re.MULTILINE)
PREFERENCES = re.compile(r"^Manage preferences: (https://digest\.example\.org/preferences/\S+)$", re.M)


def hostile_sources(folder: Path, feeds: FeedServer) -> str:
    """A folder and a feed of hostile summaries; the ``DIGEST_SOURCES`` naming both."""
    write_summaries(
        folder,
        "week.json",
        [
            summary(
                1,
                headline=f"Read this {HOSTILE}",
                key_takeaway=f"Takeaway {HOSTILE}",
                what_it_means=f"Means {HOSTILE}",
                url=EVIL,
                topics=["Nutrition"],
                source={"journal": f"Journal {EVIL}", "doi": f"10.1/{EVIL}", "published": "2026"},
            ),
            summary(2, topics=[f"Topic {EVIL}"]),
        ],
    )
    fed = summary(4, headline=f"From a feed {HOSTILE}", key_takeaway=EVIL, url=EVIL, topics=["Nutrition"])
    feeds.routes["/feed.json"] = (200, {"Content-Type": "application/feed+json"}, json_feed(fed))
    return f"{folder},{feeds.url('/feed.json')}"


def issue_with_hostile_words(digest: Digest, env: dict[str, str], client: TestClient) -> None:
    """Summaries from a folder, a feed and the push API, and an editor's words, all hostile; issue 1
    approved."""
    digest("ingest")
    for reader in WHOLE_ISSUE:
        digest("subscribers", "add", reader, "--confirmed")
    digest("subscribers", "add", PART_OF_IT, "--confirmed", "--topic", "Nutrition")
    token = digest("editors", "token", "ada").stdout.strip()
    pushed = summary(3, headline=f"Pushed {HOSTILE}", what_it_means=f"Pushed means {HOSTILE}")
    answer = client.post("/api/summaries", json=[pushed], headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    digest("compose")
    sign_in(client, "ada", PASSWORD)
    words = {
        "subject": f"Subject {EVIL}",
        "preheader": f"Preheader {EVIL_LOWER}",
        "note": f"[here]({EVIL}) [there]({EVIL_ENTITIES}) <{EVIL}> {HOSTILE}",
    }
    answer = act(client, 1, "words", **words)
    assert answer.status_code == 303, answer.text
    digest("approve", "1")


def markers_slip_into_the_render(env: dict[str, str]) -> None:
    """As if a template or a sanitiser let marker-like text through: the stored render of issue 1 gets
    the fixed markers of old and another render's keyed ones, uncut, in a link and in the text."""
    other = Markers.of("f" * 32)
    slipped = f"{EVIL} https://evil.example/?u={other.preferences}&v={other.unsubscribe}"
    engine = make_engine(env["DIGEST_DATABASE_URL"])
    with Session(engine) as session:
        issue = session.exec(select(Issue).where(Issue.number == 1)).one()
        issue.html = issue.html.replace("</body>", f'<a href="{slipped}">{slipped}</a></body>')
        issue.text = f"{issue.text}{slipped}\n"
        session.add(issue)
        session.commit()
    engine.dispose()


def assert_reader_is_safe(
    to: str, subject: str, plain: str, html: str, headers: list[str]
) -> tuple[str, str]:
    """The reader's links are in the text and the HTML once each, where the template put them, and
    nowhere else: not in the subject, the headers or anything an attacker wrote. Their unsubscribe and
    preferences links, in that order."""
    for where, text in (
        ("subject", subject),
        ("text", plain),
        ("html", html),
        *(("header", h) for h in headers),
    ):
        found = STOLEN.search(text)
        assert found is None, f"{to} {where}: {text[found.start() - 80 : found.end() + 80]!r}"
    assert "Subject https://evil.example" in subject  # the words are kept, cut only
    [unsubscribe] = UNSUBSCRIBE.findall(plain)
    [preferences] = PREFERENCES.findall(plain)
    for link in (unsubscribe, preferences):
        assert plain.count(link) == 1, link
        assert html.count(f'href="{link}"') == 1, link
        assert html.count(link) == 1, link
        assert link not in subject
    return unsubscribe, preferences


def assert_links_work(client: TestClient, to: str, links: tuple[str, str]) -> None:
    """The reader's own links open their own unsubscribe and preferences pages."""
    for link in links:
        page = client.get(link.removeprefix("https://digest.example.org"))
        assert page.status_code == 200, (to, link, page.text[:300])
        assert to in page.text, (to, link)


def assert_mail_is_safe(messages: list[EmailMessage], client: TestClient) -> None:
    assert sorted(str(message["To"]) for message in messages) == READERS
    for message in messages:
        plain, html = parts_of(message)
        headers = [str(h) for h in message.get_all("List-Unsubscribe", [])]
        to = str(message["To"])
        assert_links_work(
            client, to, assert_reader_is_safe(to, str(message["Subject"]), plain, html, headers)
        )


@pytest.fixture
def editor_env(env: dict[str, str], web_env: dict[str, str], tmp_path: Path) -> Iterator[dict[str, str]]:
    env["DIGEST_EDITORS"] = web_env["DIGEST_EDITORS"] = EDITORS
    with serving() as feeds:
        env["DIGEST_SOURCES"] = hostile_sources(tmp_path / "summaries", feeds)
        yield env


@pytest.fixture(params=["as rendered", "markers slipped into the render"])
def approved(
    request: pytest.FixtureRequest, editor_env: dict[str, str], digest: Digest, client: TestClient
) -> None:
    issue_with_hostile_words(digest, editor_env, client)
    if request.param != "as rendered":
        markers_slip_into_the_render(editor_env)


@pytest.mark.usefixtures("clock_at_now", "approved")
def test_the_outbox_fills_no_marker_from_outside(digest: Digest, outbox: Path, client: TestClient) -> None:
    digest("send")

    assert_mail_is_safe(read_outbox(outbox), client)


@pytest.fixture
def smtp_server() -> Iterator[tuple[Recorder, int]]:
    recorder = Recorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield recorder, controller.port
    controller.stop()


@pytest.mark.usefixtures("clock_at_now", "approved")
def test_smtp_fills_no_marker_from_outside(
    digest: Digest, env: dict[str, str], smtp_server: tuple[Recorder, int], client: TestClient
) -> None:
    recorder, port = smtp_server
    env.update(DIGEST_EMAIL_BACKEND="smtp", DIGEST_SMTP_URL=f"smtp://127.0.0.1:{port}")

    digest("send")

    messages = [message_from_bytes(r.message.as_bytes(), policy=policy.default) for r in recorder.received]
    assert_mail_is_safe([m for m in messages if isinstance(m, EmailMessage)], client)


def substituted(text: str, substitutions: dict[str, str]) -> str:
    """``text`` as SendGrid delivers it: each substitution key replaced wherever it appears."""
    for key, value in substitutions.items():
        text = text.replace(key, value)
    return text


@pytest.mark.usefixtures("clock_at_now", "approved")
def test_sendgrid_substitutions_fill_no_marker_from_outside(
    digest: Digest, env: dict[str, str], tmp_path: Path, client: TestClient
) -> None:
    with SendGridStandIn(KEY, SPEC, tmp_path / "accepted.jsonl") as sendgrid:
        env.update(
            DIGEST_EMAIL_BACKEND="sendgrid", DIGEST_SENDGRID_API_KEY=KEY, DIGEST_SENDGRID_HOST=sendgrid.url
        )
        digest("send")
        bodies: list[dict[str, Any]] = list(sendgrid.bodies)

    delivered = []
    keys = set()
    for body in bodies:
        content = {part["type"]: part["value"] for part in body["content"]}
        for person in body["personalizations"]:
            substitutions = person["substitutions"]
            assert all(re.fullmatch(r"__DIGEST_[A-Z]+_URL_[0-9a-f]{32}__", key) for key in substitutions)
            keys.add(frozenset(substitutions))
            subject, plain, html = (
                substituted(text, substitutions)
                for text in (body["subject"], content["text/plain"], content["text/html"])
            )
            headers = [substituted(json.dumps(person["headers"]), substitutions)]
            [to] = (recipient["email"] for recipient in person["to"])
            assert_links_work(client, to, assert_reader_is_safe(to, subject, plain, html, headers))
            delivered.append(to)
    assert sorted(delivered) == READERS
    assert len(keys) == 2  # the whole issue and the variant: each render its own key
