"""Helpers for the request-level tests of the web app: forms, outbox links, database look-ups, a sent issue.

Everything here acts as a user would (GET a page, read its hidden fields, POST it back; open an email from
the outbox and follow its link) and checks the database only for what a user cannot see.
"""

import hashlib
import re
import time
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx2
from fastapi.testclient import TestClient
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import Engine
from sqlmodel import col, select

from digest.db.engine import unit_of_work
from digest.db.models import Subscriber, Suppression
from digest.subscribers.records import address_key, normalise_address, suppression_hash
from tests.support import parts_of, read_outbox, summary, write_summaries
from tests.support.cli import Digest

BASE_URL = "https://digest.example.org"
TOKEN = r"[A-Za-z0-9_\-.]+"
FORM_TOKEN = re.compile(r'name="form_token" value="([^"]+)"')
# Settings every test of these modules starts from: limits high enough that only the tests of limits
# meet them.
RELAXED = {"DIGEST_RATE_LIMIT_IP": "1000/minute", "DIGEST_RATE_LIMIT_ADDRESS": "1000/hour"}


# --- pages and forms ---------------------------------------------------------------------------------


def form_token(page: httpx2.Response) -> str:
    """The hidden form token of the (first) form on ``page``."""
    found = FORM_TOKEN.search(page.text)
    assert found, f"no form_token on the page:\n{page.text}"
    return found.group(1)


def subscribe_form(client: TestClient, email: str, *, consent: bool = True, **fields: str) -> httpx2.Response:
    """GET the form, then POST it back as a browser would, with its hidden form token."""
    data = {"form_token": form_token(client.get("/subscribe")), "email": email, "website": ""}
    if consent:
        data["consent"] = "yes"
    data.update(fields)
    return client.post("/subscribe", data=data)


def subscribe_json(client: TestClient, email: str, *, consent: bool = True) -> httpx2.Response:
    return client.post("/subscribe", json={"email": email, "consent": consent})


def masked(response: httpx2.Response) -> tuple[int, str, dict[str, str]]:
    """Status, body and headers with the per-request values (CSP nonce, form token) masked out."""
    body = re.sub(r'nonce="[^"]+"', 'nonce="*"', response.text)
    body = FORM_TOKEN.sub('name="form_token" value="*"', body)
    headers = {name: value for name, value in response.headers.items() if name != "date"}
    if "content-security-policy" in headers:
        headers["content-security-policy"] = re.sub(
            r"'nonce-[^']+'", "'nonce-*'", headers["content-security-policy"]
        )
    return response.status_code, body, headers


def button_count(page: httpx2.Response) -> int:
    return len(re.findall(r"<button\b", page.text))


# --- the outbox --------------------------------------------------------------------------------------


def notices(outbox: Path, to: str | None = None) -> list[EmailMessage]:
    """The transactional emails (confirmation, welcome, "already subscribed"), in no meaningful order."""
    return arrived(outbox, set(), to)


def notice_paths(outbox: Path) -> set[Path]:
    """A snapshot of the notices folder, for ``arrived``."""
    return set((outbox / "notices").glob("*.eml"))


def arrived(outbox: Path, before: set[Path], to: str | None = None) -> list[EmailMessage]:
    """The notices written since the snapshot ``before`` (file times are too coarse to order by)."""
    messages = [parsed(path) for path in sorted(notice_paths(outbox) - before)]
    return [message for message in messages if to is None or to.casefold() in str(message["To"]).casefold()]


def parsed(path: Path) -> EmailMessage:
    message = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def digests(outbox: Path, to: str | None = None) -> list[EmailMessage]:
    """The issue emails (not the notices)."""
    messages = [message for message in read_outbox(outbox) if message["List-Unsubscribe"] is not None]
    return [message for message in messages if to is None or to.casefold() in str(message["To"]).casefold()]


def subject_has(message: EmailMessage, words: str) -> bool:
    return words.casefold() in str(message["Subject"]).casefold()


def links_in(message: EmailMessage, purpose: str) -> list[str]:
    """Every ``purpose`` link of ``message``, checking that the text and HTML parts carry the same ones."""
    plain, html = parts_of(message)
    pattern = re.compile(rf"{re.escape(BASE_URL)}/{purpose}/{TOKEN}")
    in_text = pattern.findall(plain)
    assert set(in_text) == set(pattern.findall(html)), f"{purpose} links differ between text and HTML"
    return in_text


def link_in(message: EmailMessage, purpose: str) -> str:
    found = set(links_in(message, purpose))
    assert len(found) == 1, f"expected one {purpose} link, found {found}"
    return found.pop()


def path_of(url: str) -> str:
    assert url.startswith(BASE_URL + "/")
    return url.removeprefix(BASE_URL)


def one_click_url(message: EmailMessage) -> str:
    """The https URL of a digest's ``List-Unsubscribe`` header (RFC 8058)."""
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    urls = re.findall(r"<([^>]+)>", str(message["List-Unsubscribe"]))
    https: list[str] = [url for url in urls if url.startswith("https://")]
    assert len(https) == 1, urls
    return https[0]


# --- the database ------------------------------------------------------------------------------------


def subscriber(engine: Engine, email: str) -> Subscriber | None:
    """The subscriber with this address (any case), detached from its session."""
    with unit_of_work(engine) as session:
        found = session.exec(
            select(Subscriber).where(Subscriber.email_key == address_key(normalise_address(email)))
        ).first()
        if found is not None:
            session.expunge(found)
        return found


def state_of(engine: Engine, email: str) -> str | None:
    found = subscriber(engine, email)
    return None if found is None else str(found.state)


def subscriber_count(engine: Engine) -> int:
    with unit_of_work(engine) as session:
        return len(list(session.exec(select(Subscriber))))


def stored_emails(engine: Engine) -> list[str]:
    with unit_of_work(engine) as session:
        return [row.email for row in session.exec(select(Subscriber).order_by(col(Subscriber.id)))]


def erased_rows(engine: Engine) -> list[Subscriber]:
    """The rows left behind by erasures, detached from their session."""
    with unit_of_work(engine) as session:
        rows = list(session.exec(select(Subscriber).where(col(Subscriber.erased_at).is_not(None))))
        for row in rows:
            session.expunge(row)
        return rows


def is_suppressed(engine: Engine, email: str) -> bool:
    with unit_of_work(engine) as session:
        digest = suppression_hash(normalise_address(email))
        return session.exec(select(Suppression).where(Suppression.email_hash == digest)).first() is not None


def backdate(engine: Engine, email: str, **moments: timedelta) -> None:
    """Move timestamps of a subscriber into the past, e.g. ``confirmation_sent_at=timedelta(minutes=11)``."""
    with unit_of_work(engine) as session:
        found = session.exec(
            select(Subscriber).where(Subscriber.email_key == address_key(normalise_address(email)))
        ).one()
        for name, age in moments.items():
            setattr(found, name, datetime.now(UTC) - age)
        session.add(found)


def old_token(keys: list[str], purpose: str, payload: Any, age: timedelta) -> str:
    """A genuine token of ``purpose``, signed ``age`` ago (itsdangerous keeps the time in the token)."""
    signed_at = int(time.time() - age.total_seconds())

    class PastSigner(TimestampSigner):
        def get_timestamp(self) -> int:
            return signed_at

    serializer = URLSafeTimedSerializer(
        keys, salt=f"digest.{purpose}", signer=PastSigner, signer_kwargs={"digest_method": hashlib.sha256}
    )
    return serializer.dumps(payload)


# --- flows -------------------------------------------------------------------------------------------


def confirmed(client: TestClient, outbox: Path, email: str) -> EmailMessage:
    """Sign ``email`` up through the form and confirm it from its email; return the welcome email."""
    before = notice_paths(outbox)
    assert subscribe_form(client, email).status_code == 200
    (confirmation,) = [m for m in arrived(outbox, before, email) if subject_has(m, "confirm")]
    before = notice_paths(outbox)
    assert client.post(path_of(link_in(confirmation, "confirm"))).status_code == 200
    (welcome,) = [m for m in arrived(outbox, before, email) if subject_has(m, "welcome")]
    return welcome


def send_issue(digest: Digest, env: dict[str, str], first: int = 1, count: int = 2) -> int:
    """Ingest ``count`` new summaries, compose, approve and send the issue through the CLI; its number."""
    now = datetime.now(UTC)
    # Published just now (after any earlier issue was composed), one millisecond apart, newest first.
    items = [
        summary(n, published_at=now - timedelta(milliseconds=n - first)) for n in range(first, first + count)
    ]
    write_summaries(Path(env["DIGEST_SOURCES"]), f"batch-{first}.json", items)
    digest("ingest")
    composed = digest("compose").stdout
    found = re.search(r"composed issue (\d+)", composed)
    assert found, composed
    number = found.group(1)
    digest("approve", number)
    assert " sent" in digest("send", number).stdout
    return int(number)


def draft_issue(digest: Digest, env: dict[str, str], first: int, count: int = 1) -> int:
    """Ingest new summaries and compose a draft issue, not approved."""
    now = datetime.now(UTC)
    items = [summary(n, published_at=now) for n in range(first, first + count)]
    write_summaries(Path(env["DIGEST_SOURCES"]), f"batch-{first}.json", items)
    digest("ingest")
    found = re.search(r"composed issue (\d+)", digest("compose").stdout)
    assert found
    return int(found.group(1))


def preferences_action(client: TestClient, path: str, action: str, **fields: str) -> httpx2.Response:
    """Open the preferences page at ``path`` and press one of its buttons."""
    page = client.get(path)
    assert page.status_code == 200, page.text
    return client.post(path, data={"form_token": form_token(page), "action": action, **fields})
