"""Helpers for the unsubscribe attribution tests: each reader's unsubscribe links per issue, as each mail
backend delivered them (outbox files, an SMTP server's messages, SendGrid's requests with their
substitutions applied)."""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from sqlalchemy import Engine
from sqlmodel import col, select

from digest.db.engine import unit_of_work
from digest.db.models import Engagement, Subscriber
from tests.support import parts_of
from tests.support.smtp import Recorder

BASE_URL = "https://digest.example.org"
FOOTER = re.compile(rf"^Unsubscribe: ({re.escape(BASE_URL)}/unsubscribe/\S+)$", re.MULTILINE)
HEADER = re.compile(rf"<({re.escape(BASE_URL)}/unsubscribe/[^>]+)>")
ISSUE_OF = re.compile(r"<digest\.(\d+)\.\d+@")


@dataclass(frozen=True)
class Links:
    """One reader's unsubscribe links in one issue: the footer's and the one-click header's."""

    footer: str
    one_click: str

    @property
    def footer_path(self) -> str:
        return self.footer.removeprefix(BASE_URL)

    @property
    def one_click_path(self) -> str:
        return self.one_click.removeprefix(BASE_URL)


def links_of(to: str, message_id: str, plain: str, list_unsubscribe: str) -> tuple[tuple[str, int], Links]:
    """(reader, issue) and their links, checking that the footer's and the header's are the same URL."""
    found = ISSUE_OF.search(message_id)
    assert found, message_id
    [footer] = FOOTER.findall(plain)
    [one_click] = HEADER.findall(list_unsubscribe)
    assert footer == one_click, (footer, one_click)
    return (to.casefold(), int(found.group(1))), Links(footer, one_click)


def from_messages(messages: Iterable[EmailMessage]) -> dict[tuple[str, int], Links]:
    """The links of issue emails (those with a ``List-Unsubscribe`` header), by reader and issue."""
    found = {}
    for message in messages:
        if message["List-Unsubscribe"] is None:
            continue
        plain, _ = parts_of(message)
        key, links = links_of(
            str(message["To"]), str(message["Message-ID"]), plain, str(message["List-Unsubscribe"])
        )
        found[key] = links
    return found


def from_smtp(recorder: Recorder) -> dict[tuple[str, int], Links]:
    messages = [message_from_bytes(r.message.as_bytes(), policy=policy.default) for r in recorder.received]
    return from_messages(m for m in messages if isinstance(m, EmailMessage))


def from_sendgrid(bodies: Iterable[dict[str, Any]]) -> dict[tuple[str, int], Links]:
    """As SendGrid delivers them: each personalization's substitutions applied to the shared text."""
    found = {}
    for body in bodies:
        plain = {part["type"]: part["value"] for part in body["content"]}["text/plain"]
        for person in body["personalizations"]:
            filled = plain
            for marker, value in person["substitutions"].items():
                filled = filled.replace(marker, value)
            headers = person["headers"]
            [to] = (recipient["email"] for recipient in person["to"])
            assert person["custom_args"]["issue"] in headers["Message-ID"]
            key, links = links_of(to, headers["Message-ID"], filled, headers["List-Unsubscribe"])
            found[key] = links
    return found


def unsubscribe_rows(engine: Engine) -> list[Engagement]:
    with unit_of_work(engine) as session:
        query = select(Engagement).where(Engagement.action == "unsubscribe").order_by(col(Engagement.id))
        return list(session.exec(query))


def state_of(engine: Engine, email: str) -> str:
    with unit_of_work(engine) as session:
        return session.exec(select(Subscriber.state).where(Subscriber.email == email)).one()
