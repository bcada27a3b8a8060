"""Bounces without SendGrid: what an SMTP server says of a recipient is recorded as SendGrid's event would be.

A real aiosmtpd server on loopback refuses some recipients of a real send. A permanent refusal (5xx at
RCPT or at DATA: 550 5.1.1 user unknown) is a hard bounce, a temporary one (4xx) a block: the same
provider-event record and the same rules as the webhook (digest/subscribers/events.py), so the refused
subscriber is ``bounced`` and the next issue is not sent to them, while everyone else's goes.
"""

from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine
from sqlmodel import col, select

from digest.db.engine import unit_of_work
from digest.db.models import IssueStatus, ProviderEvent, Subscriber
from digest.errors import MailError
from digest.ingest.summaries import ingest
from digest.issues.compose import compose
from digest.issues.decisions import decide
from digest.mail.smtp import SmtpMailer
from digest.rendering import Renderer
from digest.sources.folder import FolderSource
from tests.support import NOW, summary, write_summaries
from tests.support.sending import RULES, SITE, approved_issue, audience, ledger, make_sender
from tests.support.smtp import Recorder, free_port, message

UNKNOWN_AT_RCPT = "reader2@example.org"
UNKNOWN_AT_DATA = "reader3@example.org"
GREYLISTED = "reader4@example.org"  # 451 once, then taken
ALWAYS_BUSY = "reader5@example.org"  # 451 at every try


@pytest.fixture
def server() -> Iterator[tuple[Recorder, str]]:
    recorder = Recorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield recorder, f"smtp://127.0.0.1:{controller.port}"
    controller.stop()


def states(engine: Engine) -> dict[str, str]:
    with unit_of_work(engine) as session:
        return {row.email: row.state for row in session.exec(select(Subscriber))}


def events_of(engine: Engine, address: str) -> list[tuple[str, str | None, str | None, str | None]]:
    with unit_of_work(engine) as session:
        query = (
            select(ProviderEvent)
            .join(Subscriber, col(Subscriber.id) == col(ProviderEvent.subscriber_id))
            .where(Subscriber.email == address)
            .order_by(col(ProviderEvent.id))
        )
        return [(row.event, row.bounce_type, row.reason, row.outcome) for row in session.exec(query)]


def second_issue(engine: Engine, tmp_path: Path) -> int:
    """Issue 2, approved, from three new summaries."""
    folder = tmp_path / "later"
    write_summaries(folder, "next-week.json", [summary(n) for n in range(4, 7)])
    renderer = Renderer(SITE)
    ingest(engine, [FolderSource(folder)], renderer, now=NOW + timedelta(days=1))
    with unit_of_work(engine) as session:
        issue = compose(session, renderer, RULES, now=NOW + timedelta(days=1))
        assert issue is not None
        decide(session, issue.number, IssueStatus.approved, by="editor", now=NOW + timedelta(days=1))
        return issue.number


def test_refused_recipients_are_bounced_the_others_delivered_and_the_next_send_skips_them(
    engine: Engine, tmp_path: Path, server: tuple[Recorder, str]
) -> None:
    recorder, url = server
    number = approved_issue(engine, tmp_path)
    readers = audience(engine, 6)
    recorder.refuse(UNKNOWN_AT_RCPT, 550)
    recorder.refuse(UNKNOWN_AT_DATA, 550, at="DATA")
    recorder.refuse(GREYLISTED, 451, times=1)
    recorder.refuse(ALWAYS_BUSY, 451)

    with SmtpMailer(url, connections=2, timeout=5) as mailer:
        report = make_sender(engine, mailer, batch_size=3).send(number)

    taken = [address for address in readers if address not in (UNKNOWN_AT_RCPT, UNKNOWN_AT_DATA, ALWAYS_BUSY)]
    assert recorder.recipients() == Counter(taken)
    assert (report.sent, report.failed) == (len(taken), 3)
    gone = {UNKNOWN_AT_RCPT, UNKNOWN_AT_DATA, ALWAYS_BUSY}
    assert {address: states(engine)[address] for address in readers} == {
        address: "bounced" if address in gone else "active" for address in readers
    }

    # The record is the webhook's: a bounce event with the server's reply, on the delivery it was about.
    for address in (UNKNOWN_AT_RCPT, UNKNOWN_AT_DATA):
        assert events_of(engine, address) == [
            ("bounce", "bounce", "550 5.1.1 no such user", "delivery bounced; subscriber bounced")
        ]
        assert ledger(engine, number)[address].provider_status == "bounced"
    # Three blocks in a row (DIGEST_BLOCKED_IN_A_ROW) bounce too; one, then the message taken, does not.
    busy = events_of(engine, ALWAYS_BUSY)
    assert [(event, kind) for event, kind, _, _ in busy] == [("bounce", "blocked")] * 3
    assert busy[-1][3] == "delivery blocked; subscriber bounced"
    assert [(event, kind) for event, kind, _, _ in events_of(engine, GREYLISTED)] == [
        ("bounce", "blocked"),
        ("delivered", None),
    ]

    # The next issue goes to the others only.
    later = second_issue(engine, tmp_path)
    with SmtpMailer(url, timeout=5) as mailer:
        make_sender(engine, mailer).send(later)
    assert recorder.recipients() == Counter(taken * 2)
    assert set(ledger(engine, later)) == set(taken)


@pytest.mark.parametrize(
    ("code", "at", "reply", "bounce"),
    [
        (550, "RCPT", "5.1.1 user unknown", "bounce"),
        (553, "DATA", "5.1.3 bad recipient address syntax", "bounce"),
        (554, "DATA", "5.7.1 message refused as spam", "blocked"),  # the server's policy, not the mailbox
        (452, "RCPT", "4.2.2 mailbox full", "blocked"),
        (450, "DATA", "4.7.1 greylisted, try again later", "blocked"),
    ],
)
def test_each_refusal_of_a_recipient_says_how_it_bounced(
    server: tuple[Recorder, str], code: int, at: str, reply: str, bounce: str
) -> None:
    recorder, url = server
    recorder.refuse("refused@example.org", code, at=at, reply=reply)
    with SmtpMailer(url, timeout=5) as mailer, pytest.raises(MailError) as refused:
        mailer.send(message("refused@example.org"))
    assert (str(refused.value), refused.value.bounce) == (f"{code} {reply}", bounce)


def test_a_server_that_goes_away_bounces_nobody(server: tuple[Recorder, str]) -> None:
    """421 ends the session for every recipient: it is not about the one in hand."""
    recorder, url = server
    recorder.refuse("anyone@example.org", 421, reply="4.3.2 shutting down")
    with SmtpMailer(url, timeout=5) as mailer, pytest.raises(MailError) as refused:
        mailer.send(message("anyone@example.org"))
    assert refused.value.bounce is None
