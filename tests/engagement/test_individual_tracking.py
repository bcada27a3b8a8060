"""``DIGEST_TRACKING=individual`` end to end, on SQLite and PostgreSQL (issue 17).

Real sends through the outbox, a real SMTP server (aiosmtpd) and the real SendGrid client against the
stand-in (which validates each request against SendGrid's OpenAPI description). The email is rendered
once per issue; each reader's email carries their own signed tag after every tracked link and after the
open pixel's token, filled in at send time. Following a link (or fetching the pixel) through the app
records that reader; the reader's export shows it. A tag from another issue's email, or a tampered one,
gets the link-problem page. A test copy and an editor's preview carry no reader's tag. Under
``aggregate`` the stored render holds no reader marker, the links have no reader part, and the database
holds nothing naming a reader.
"""

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import time_machine
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from digest.db.models import Engagement, Issue
from digest.devtools.sendgrid_standin import SendGridStandIn
from digest.issues.review import email_preview
from digest.tokens import Reader, ReaderTags, TokenInvalid
from digest.wiring import Parts
from tests.support import parts_of, read_outbox, write_summaries
from tests.support.cli import Digest
from tests.support.engagement import clicks, opens, send_with_note, studies
from tests.support.sendgrid import KEY, SPEC
from tests.support.smtp import Recorder, free_port
from tests.support.web import BASE_URL, RELAXED, confirmed, digests, path_of, subscriber

READERS = ["ann@example.org", "bob@example.org"]
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130 Safari/537.36"
# Every tracked link and pixel, with whatever follows its token up to the end of the address.
TRACKED = re.compile(rf"{re.escape(BASE_URL)}/r/[A-Za-z0-9_\-./]*[A-Za-z0-9_\-]")
PIXEL = re.compile(rf"{re.escape(BASE_URL)}/o/[A-Za-z0-9_\-./]+\.gif")


@pytest.fixture
def tracking(request: pytest.FixtureRequest) -> str:
    return str(getattr(request, "param", "individual"))


@pytest.fixture
def env(env: dict[str, str], tracking: str) -> dict[str, str]:
    return {**env, "DIGEST_TRACKING": tracking, "DIGEST_TRACK_OPENS": "true"}


@pytest.fixture
def web_env(web_env: dict[str, str]) -> dict[str, str]:
    return {**web_env, **RELAXED}


@pytest.fixture
def readers(client: TestClient, outbox: Path, parts: Parts) -> dict[str, int]:
    """Ann and Bob, signed up and confirmed through the site: their subscriber ids."""
    ids = {}
    for email in READERS:
        confirmed(client, outbox, email)
        found = subscriber(parts.engine, email)
        assert found is not None
        assert found.id is not None
        ids[email] = found.id
    return ids


def split(url: str, prefix: str) -> list[str]:
    """The path segments of a tracked link or pixel after ``/r/`` or ``/o/``."""
    return url.removeprefix(f"{BASE_URL}/{prefix}/").removesuffix(".gif").split("/")


def tag_of(html: str, plain: str) -> str:
    """The one reader's tag every tracked link and the pixel of an email carry (checked here)."""
    links = TRACKED.findall(html) + TRACKED.findall(plain)
    (pixel,) = PIXEL.findall(html)
    assert len(links) >= 4  # summaries' pages, DOIs, "In this issue", the note's link
    tags = {split(link, "r")[1] for link in links if len(split(link, "r")) == 2}
    assert all(len(split(link, "r")) == 2 for link in links), links
    assert len(split(pixel, "o")) == 2, pixel
    tags.add(split(pixel, "o")[1])
    (tag,) = tags
    return tag


def assert_filled(*texts: str) -> None:
    for text in texts:
        assert "__DIGEST_" not in text.upper()


def click(client: TestClient, url: str) -> str:
    answer = client.get(path_of(url), headers={"User-Agent": BROWSER})
    assert answer.status_code == 302, answer.text
    return str(answer.headers["location"])


def later(minutes: int = 5) -> time_machine.travel:
    """Some minutes after the email arrived (this process's clock): an open then is no prefetch."""
    return time_machine.travel(datetime.now(UTC) + timedelta(minutes=minutes), tick=True)


def test_each_readers_email_carries_their_tag_and_their_clicks_and_opens_name_them(
    client: TestClient,
    outbox: Path,
    digest: Digest,
    env: dict[str, str],
    parts: Parts,
    readers: dict[str, int],
) -> None:
    number = send_with_note(digest, env, parts)
    tags = ReaderTags(parts.settings.signing_keys)
    seen = {}
    for email, reader_id in readers.items():
        (message,) = digests(outbox, email)
        plain, html = parts_of(message)
        assert_filled(plain, html)
        tag = seen[email] = tag_of(html, plain)
        assert tags.read(tag, issue=number) == Reader(issue=number, subscriber=reader_id)
        for part in (plain, html):
            assert "records which links you follow" in " ".join(part.split())
    assert seen[READERS[0]] != seen[READERS[1]]

    ann, bob = (parts_of(digests(outbox, email)[0]) for email in READERS)
    ann_link, bob_link = TRACKED.findall(ann[1])[0], TRACKED.findall(bob[1])[0]
    assert split(ann_link, "r")[0] == split(bob_link, "r")[0]  # one render: the same link token
    assert click(client, ann_link) == click(client, bob_link)
    with later():
        answer = client.get(path_of(PIXEL.findall(ann[1])[0]), headers={"User-Agent": BROWSER})
    assert answer.status_code == 200
    assert [row.subscriber_id for row in clicks(parts.engine, lambda r: r.action == "click")] == [
        readers[READERS[0]],
        readers[READERS[1]],
    ]
    assert [row.subscriber_id for row in opens(parts.engine)] == [readers[READERS[0]]]

    exported = json.loads(digest("subscribers", "export", READERS[0]).stdout)["engagement"]
    assert {row["action"] for row in exported} >= {"click"}
    assert all(row["issue"] == number for row in exported)


def test_a_reader_of_a_variant_gets_their_own_tag_too(
    client: TestClient,
    outbox: Path,
    digest: Digest,
    env: dict[str, str],
    parts: Parts,
    readers: dict[str, int],
) -> None:
    write_summaries(Path(env["DIGEST_SOURCES"]), "batch-1.json", studies(1, 3))
    digest("ingest")  # the topics on offer
    digest("subscribers", "add", "cy@example.org", "--confirmed", "--topic", "Nutrition")
    cy = subscriber(parts.engine, "cy@example.org")
    assert cy is not None
    number = send_with_note(digest, env, parts)
    plain, html = parts_of(digests(outbox, "cy@example.org")[0])
    assert_filled(plain, html)
    assert html.count("<h2") < parts_of(digests(outbox, READERS[0])[0])[1].count("<h2")  # a variant
    tag = tag_of(html, plain)
    assert ReaderTags(parts.settings.signing_keys).read(tag, issue=number).subscriber == cy.id
    click(client, TRACKED.findall(html)[0])
    assert [row.subscriber_id for row in clicks(parts.engine)] == [cy.id]


def test_a_tag_from_another_issue_or_tampered_gets_the_link_problem_page(
    client: TestClient,
    outbox: Path,
    digest: Digest,
    env: dict[str, str],
    parts: Parts,
    readers: dict[str, int],
) -> None:
    first = send_with_note(digest, env, parts)
    second = send_with_note(digest, env, parts, first=4)
    assert second == first + 1
    ann_first, ann_second = (parts_of(message) for message in digests(outbox, READERS[0]))
    link = TRACKED.findall(ann_first[1])[0]
    token, tag = split(link, "r")
    later_tag = tag_of(ann_second[1], ann_second[0])
    tags = ReaderTags(parts.settings.signing_keys)
    ann, bob = readers[READERS[0]], readers[READERS[1]]
    claims_bob = tag.replace(f"{ann}.", f"{bob}.", 1)  # Bob's id under Ann's signature
    broken = tag[:-2] + ("AA" if not tag.endswith("AA") else "BB")
    for bad in (later_tag, claims_bob, broken, tags.sign(Reader(first, ann)) + "x"):
        with pytest.raises(TokenInvalid):
            tags.read(bad, issue=first)
        answer = client.get(f"/r/{token}/{bad}", headers={"User-Agent": BROWSER})
        assert answer.status_code == 400, bad
        assert "location" not in answer.headers
        assert "This link does not work" in answer.text
        pixel_token = split(PIXEL.findall(ann_first[1])[0], "o")[0]
        gif = client.get(f"/o/{pixel_token}/{bad}.gif", headers={"User-Agent": BROWSER})
        assert gif.status_code == 200
        assert gif.headers["content-type"] == "image/gif"
    assert clicks(parts.engine) == []
    click(client, link)  # the genuine link still works, and names Ann
    assert [row.subscriber_id for row in clicks(parts.engine)] == [ann]


def test_a_test_copy_and_a_preview_carry_no_readers_tag(
    client: TestClient,
    outbox: Path,
    digest: Digest,
    env: dict[str, str],
    parts: Parts,
    readers: dict[str, int],
) -> None:
    number = send_with_note(digest, env, parts)
    digest("test-send", str(number), "--to", "editor@example.org")
    (copy,) = [m for m in read_outbox(outbox) if "[TEST]" in str(m["Subject"])]
    plain, html = parts_of(copy)
    assert_filled(plain, html)
    links = TRACKED.findall(html) + TRACKED.findall(plain)
    assert links
    assert all(len(split(link, "r")) == 1 for link in links), links  # the links every reader shares
    preview = email_preview(parts.engine, number, base_url=BASE_URL)
    assert_filled(preview)
    assert all(len(split(link, "r")) == 1 for link in TRACKED.findall(preview))
    click(client, links[0])
    assert [row.subscriber_id for row in clicks(parts.engine)] == [None]


@pytest.mark.parametrize("tracking", ["aggregate"], indirect=True)
def test_aggregate_renders_no_reader_marker_and_stores_nothing_naming_a_reader(
    client: TestClient,
    outbox: Path,
    digest: Digest,
    env: dict[str, str],
    parts: Parts,
    readers: dict[str, int],
) -> None:
    number = send_with_note(digest, env, parts)
    with Session(parts.engine) as session:
        stored = session.exec(select(Issue).where(Issue.number == number)).one()
        assert "__DIGEST_READER_" not in stored.html + stored.text
    for email in READERS:
        plain, html = parts_of(digests(outbox, email)[0])
        assert_filled(plain, html)
        assert all(len(split(link, "r")) == 1 for link in TRACKED.findall(html) + TRACKED.findall(plain))
        assert [len(split(pixel, "o")) for pixel in PIXEL.findall(html)] == [1]
        assert "records which links you follow" not in " ".join(plain.split())
        click(client, TRACKED.findall(html)[0])
        with later():
            client.get(path_of(PIXEL.findall(html)[0]), headers={"User-Agent": BROWSER})
    with Session(parts.engine) as session:
        rows = list(session.exec(select(Engagement)))
    assert sorted(row.action for row in rows) == ["click", "click", "open", "open"]
    assert all(row.subscriber_id is None for row in rows)
    stored_words = " ".join(str(getattr(row, name)) for row in rows for name in Engagement.model_fields)
    for revealing in [*READERS, BROWSER]:
        assert revealing not in stored_words


@pytest.fixture
def smtp_server() -> Iterator[tuple[Recorder, int]]:
    recorder = Recorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield recorder, controller.port
    controller.stop()


def test_smtp_delivers_each_reader_their_own_tag(
    client: TestClient,
    digest: Digest,
    env: dict[str, str],
    parts: Parts,
    readers: dict[str, int],
    smtp_server: tuple[Recorder, int],
) -> None:
    recorder, port = smtp_server
    env.update(DIGEST_EMAIL_BACKEND="smtp", DIGEST_SMTP_URL=f"smtp://127.0.0.1:{port}")
    number = send_with_note(digest, env, parts)
    tags = ReaderTags(parts.settings.signing_keys)
    received = [message_from_bytes(r.message.as_bytes(), policy=policy.default) for r in recorder.received]
    digests_ = [m for m in received if isinstance(m, EmailMessage) and "/r/" in parts_of(m)[1]]
    assert sorted(str(m["To"]) for m in digests_) == READERS
    for message in digests_:
        plain, html = parts_of(message)
        assert_filled(plain, html)
        reader = tags.read(tag_of(html, plain), issue=number)
        assert reader.subscriber == readers[str(message["To"])]
    click(client, TRACKED.findall(parts_of(digests_[0])[1])[0])
    assert [row.subscriber_id for row in clicks(parts.engine)] == [readers[str(digests_[0]["To"])]]


def substituted(text: str, substitutions: dict[str, str]) -> str:
    """``text`` as SendGrid delivers it: each substitution key replaced wherever it appears."""
    for key, value in substitutions.items():
        text = text.replace(key, value)
    return text


def test_sendgrid_carries_each_readers_tag_as_a_substitution_the_standin_accepts(
    client: TestClient,
    digest: Digest,
    env: dict[str, str],
    parts: Parts,
    readers: dict[str, int],
    tmp_path: Path,
) -> None:
    with SendGridStandIn(KEY, SPEC, tmp_path / "accepted.jsonl") as sendgrid:
        env.update(
            DIGEST_EMAIL_BACKEND="sendgrid", DIGEST_SENDGRID_API_KEY=KEY, DIGEST_SENDGRID_HOST=sendgrid.url
        )
        number = send_with_note(digest, env, parts)
        bodies: list[dict[str, Any]] = list(sendgrid.bodies)
        accepted = sorted(line["email"] for line in sendgrid.recorded())
    assert accepted == READERS
    tags = ReaderTags(parts.settings.signing_keys)
    delivered = {}
    for body in bodies:
        content = {part["type"]: part["value"] for part in body["content"]}
        assert "__DIGEST_READER_" in content["text/html"]  # the shared body, rendered once
        for person in body["personalizations"]:
            substitutions: dict[str, str] = person["substitutions"]
            # Three per reader: unsubscribe, preferences and the reader's tag; far below SendGrid's limits.
            assert len(substitutions) == 3
            assert len(json.dumps(substitutions).encode()) < 10_000
            (reader_key,) = [key for key in substitutions if key.startswith("__DIGEST_READER_")]
            plain, html = (substituted(content[kind], substitutions) for kind in ("text/plain", "text/html"))
            assert_filled(plain, html)
            tag = tag_of(html, plain)
            assert substitutions[reader_key] == f"/{tag}"
            [to] = (recipient["email"] for recipient in person["to"])
            assert tags.read(tag, issue=number).subscriber == readers[to]
            delivered[to] = html
    assert sorted(delivered) == READERS
    click(client, TRACKED.findall(delivered[READERS[1]])[0])
    assert [row.subscriber_id for row in clicks(parts.engine)] == [readers[READERS[1]]]


def test_the_standin_refuses_substitutions_over_sendgrids_10000_bytes(tmp_path: Path) -> None:
    standin = SendGridStandIn(KEY, None, tmp_path / "accepted.jsonl")
    tags = {f"__DIGEST_READER_{'a' * 32}__": "/123456.7.abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"}

    def body(substitutions: dict[str, str]) -> dict[str, Any]:
        return {"personalizations": [{"to": [{"email": "ann@example.org"}], "substitutions": substitutions}]}

    assert standin.check(body(tags), validate=False) is None
    refused = standin.check(body({"__BIG__": "x" * 9_994}), validate=False)  # 7 + 9,994 = 10,001 bytes
    assert refused is not None
    assert refused["errors"][0]["field"] == "personalizations.0.substitutions"
    assert standin.check(body({"__BIG__": "x" * 9_993}), validate=False) is None


class SwitchingDigest(Digest):
    """``digest`` whose ``send`` runs under another ``DIGEST_TRACKING`` than the render before it."""

    def __init__(self, env: dict[str, str], at_send: str) -> None:
        super().__init__(env)
        self.at_send = at_send

    def __call__(self, *args: str, ok: bool = True) -> Any:
        if args[:1] == ("send",):
            self.env = {**self.env, "DIGEST_TRACKING": self.at_send}
        return super().__call__(*args, ok=ok)


@pytest.mark.parametrize(
    ("tracking", "at_send"), [("individual", "aggregate"), ("aggregate", "individual")], indirect=["tracking"]
)
def test_a_render_and_a_send_under_different_settings_carry_no_readers_tag(
    client: TestClient, outbox: Path, env: dict[str, str], parts: Parts, readers: dict[str, int], at_send: str
) -> None:
    send_with_note(SwitchingDigest(env, at_send), env, parts)
    for email in READERS:
        plain, html = parts_of(digests(outbox, email)[0])
        assert_filled(plain, html)
        links = TRACKED.findall(html) + TRACKED.findall(plain)
        assert links
        assert all(len(split(link, "r")) == 1 for link in links), links
        assert [len(split(pixel, "o")) for pixel in PIXEL.findall(html)] == [1]
    click(client, TRACKED.findall(html)[0])
    assert [row.subscriber_id for row in clicks(parts.engine)] == [None]
