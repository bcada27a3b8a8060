"""Nothing written from outside can steal a reader's personal links (issue 13 item 3).

A summary (from a folder or the push API) and an editor's subject, preheader and note all carry
``https://evil.example/?u=__DIGEST_PREFERENCES_URL__``: were the marker filled there, every delivered email
would send that reader's preferences link (export, erase, unsubscribe) to a third party. Each is sent
through the outbox, a real SMTP server (aiosmtpd) and the real SendGrid client against the stand-in,
whose substitutions would fill a marker anywhere in the subject or the body.
"""

import json
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient

from digest.devtools.sendgrid_standin import SendGridStandIn
from tests.support import parts_of, read_outbox, summary, write_summaries
from tests.support.cli import Digest
from tests.support.editor import EDITORS, PASSWORD, act, sign_in
from tests.support.sendgrid import KEY, SPEC
from tests.support.smtp import Recorder, free_port

EVIL = "https://evil.example/?u=__DIGEST_PREFERENCES_URL__&v=__DIGEST_UNSUBSCRIBE_URL__"
STOLEN = ("evil.example/?u=__DIGEST_", "evil.example/?u=https", "&v=__DIGEST_", "&v=https")
READERS = ["ada@example.org", "bob@example.org"]


def hostile_summaries(folder: Path) -> None:
    write_summaries(
        folder,
        "week.json",
        [
            summary(
                1,
                headline=f"Read this {EVIL}",
                key_takeaway=f"Takeaway {EVIL}",
                what_it_means=f"Means {EVIL} __digest_preferences_url__",
                url=EVIL,
                source={"journal": f"Journal {EVIL}", "doi": f"10.1/{EVIL}", "published": "2026"},
            ),
            summary(2, topics=[f"Topic {EVIL}"]),
        ],
    )


def issue_with_hostile_words(digest: Digest, env: dict[str, str], client: TestClient) -> None:
    """Summaries from a folder and the push API, and an editor's words, all hostile; issue 1 approved."""
    hostile_summaries(Path(env["DIGEST_SOURCES"]))
    digest("db", "upgrade")
    for reader in READERS:
        digest("subscribers", "add", reader, "--confirmed")
    digest("ingest")
    token = digest("editors", "token", "ada").stdout.strip()
    pushed = summary(3, headline=f"Pushed {EVIL}", what_it_means=f"Pushed means {EVIL}")
    answer = client.post("/api/summaries", json=[pushed], headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    digest("compose")
    sign_in(client, "ada", PASSWORD)
    words = {"subject": f"Subject {EVIL}", "preheader": f"Preheader {EVIL}", "note": f"[here]({EVIL}) {EVIL}"}
    answer = act(client, 1, "words", **words)
    assert answer.status_code == 303, answer.text
    digest("approve", "1")


def assert_nothing_stolen(text: str, where: str) -> None:
    for stolen in STOLEN:
        assert stolen not in text, (
            f"{where}: {stolen!r} in {text[text.find(stolen) - 80 : text.find(stolen) + 80]!r}"
        )


def assert_mail_is_safe(messages: list[EmailMessage]) -> None:
    assert sorted(str(message["To"]) for message in messages) == READERS
    for message in messages:
        plain, html = parts_of(message)
        for where, text in (("subject", str(message["Subject"])), ("text", plain), ("html", html)):
            assert_nothing_stolen(text, f"{message['To']} {where}")
        assert "Subject https://evil.example" in str(message["Subject"])  # the words are kept, cut only
        assert "https://digest.example.org/unsubscribe/" in plain  # the real links are filled
        assert "https://digest.example.org/preferences/" in plain
        for header in message.get_all("List-Unsubscribe", []):
            assert_nothing_stolen(str(header), "List-Unsubscribe")


@pytest.fixture
def editor_env(env: dict[str, str], web_env: dict[str, str]) -> dict[str, str]:
    env["DIGEST_EDITORS"] = web_env["DIGEST_EDITORS"] = EDITORS
    return env


@pytest.mark.usefixtures("editor_env", "clock_at_now")
def test_the_outbox_gets_no_marker_from_outside(
    digest: Digest, env: dict[str, str], client: TestClient, outbox: Path
) -> None:
    issue_with_hostile_words(digest, env, client)

    digest("send")

    assert_mail_is_safe(read_outbox(outbox))


@pytest.fixture
def smtp_server() -> Iterator[tuple[Recorder, int]]:
    recorder = Recorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield recorder, controller.port
    controller.stop()


@pytest.mark.usefixtures("editor_env", "clock_at_now")
def test_smtp_gets_no_marker_from_outside(
    digest: Digest, env: dict[str, str], client: TestClient, smtp_server: tuple[Recorder, int]
) -> None:
    recorder, port = smtp_server
    issue_with_hostile_words(digest, env, client)
    env.update(DIGEST_EMAIL_BACKEND="smtp", DIGEST_SMTP_URL=f"smtp://127.0.0.1:{port}")

    digest("send")

    messages = [message_from_bytes(r.message.as_bytes(), policy=policy.default) for r in recorder.received]
    assert_mail_is_safe([m for m in messages if isinstance(m, EmailMessage)])


@pytest.mark.usefixtures("editor_env", "clock_at_now")
def test_sendgrid_substitutions_meet_no_marker_from_outside(
    digest: Digest, env: dict[str, str], client: TestClient, tmp_path: Path
) -> None:
    issue_with_hostile_words(digest, env, client)
    with SendGridStandIn(KEY, SPEC, tmp_path / "accepted.jsonl") as sendgrid:
        env.update(
            DIGEST_EMAIL_BACKEND="sendgrid", DIGEST_SENDGRID_API_KEY=KEY, DIGEST_SENDGRID_HOST=sendgrid.url
        )
        digest("send")
        bodies = list(sendgrid.bodies)

    assert bodies
    for body in bodies:
        # What SendGrid substitutes in: the subject, every content part and every personalization.
        shared = json.dumps(
            {"subject": body.get("subject"), "content": body.get("content")}, ensure_ascii=False
        )
        assert_nothing_stolen(shared, "request")
        for personalization in body["personalizations"]:
            assert set(personalization["substitutions"]) == {
                "__DIGEST_UNSUBSCRIBE_URL__",
                "__DIGEST_PREFERENCES_URL__",
            }
            assert_nothing_stolen(json.dumps(personalization, ensure_ascii=False), "personalization")
