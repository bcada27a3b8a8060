"""The delivery ledger (digest/sending/sender.py): each active subscriber exactly once, SQLite and PostgreSQL.

Issues are ingested, composed and approved through the services, then sent with ``IssueSender`` into a real
``OutboxMailer`` in ``tmp_path``; ``MemoryMailer`` (the shipped test double) stands in where a failure
must be injected. A "crash" is a ``KeyboardInterrupt`` raised while a batch is being handed over.
"""

import html
import re
import threading
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from digest.db.engine import unit_of_work
from digest.db.models import DeliveryStatus, Issue, IssueStatus, Subscriber, SubscriberState
from digest.errors import ConfigError, InvalidState, PermanentMailError, TransientMailError
from digest.issues.queries import get_issue, next_issue_to_send
from digest.mail import MemoryMailer, OutboxMailer
from digest.sending import sender as send_module
from digest.sending.copies import dry_run
from digest.sending.outcomes import MAX_ATTEMPTS
from digest.sending.progress import SendReport
from digest.sending.sender import SendSettings
from digest.subscribers import records as subscribers
from digest.tokens import Purpose, TokenInvalid
from tests.support import parts_of, read_outbox
from tests.support.sending import (
    BASE_URL,
    FROM,
    T0,
    TOKENS,
    Flaky,
    Recording,
    add_subscriber,
    approved_issue,
    audience,
    issue_status,
    ledger,
    make_sender,
    statuses,
)

# The send starts an hour after the issue was composed; every sender's clock is fixed.
DEFAULTS = SendSettings(from_=FROM, base_url=BASE_URL)
LEASE = DEFAULTS.lease + DEFAULTS.outage  # how long a claimed batch stays its sender's


# --- building an approved issue and its audience through the services ---------------------------------


def set_state(engine: Engine, address: str, state: SubscriberState) -> None:
    with unit_of_work(engine) as session:
        subscriber = subscribers.find(session, address)
        assert subscriber is not None
        subscriber.state = state
        session.add(subscriber)


# --- reading the result -------------------------------------------------------------------------------


def subscriber_ids(engine: Engine) -> dict[str, tuple[int, str]]:
    """Each address with its id and token nonce."""
    with unit_of_work(engine) as session:
        return {s.email: (s.id or 0, s.token_nonce) for s in session.exec(select(Subscriber))}


def recipients(outbox: Path) -> list[str]:
    return sorted(str(message["To"]) for message in read_outbox(outbox))


def snapshot(outbox: Path) -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in sorted(outbox.glob("**/*.eml"))}


# --- mailers that record what they are handed, crash, or fail -----------------------------------------


# --- the tests ----------------------------------------------------------------------------------------


def test_every_active_subscriber_gets_exactly_one_message(engine: Engine, tmp_path: Path) -> None:
    number = approved_issue(engine, tmp_path)
    active = audience(engine, 5)
    outbox = tmp_path / "outbox"

    report = make_sender(engine, OutboxMailer(outbox), batch_size=2).send(number)

    assert (report.audience, report.sent, report.failed, report.skipped, report.in_flight) == (5, 5, 0, 0, 0)
    assert recipients(outbox) == sorted(active)
    assert statuses(engine, number) == dict.fromkeys(active, DeliveryStatus.sent)
    for delivery in ledger(engine, number).values():
        assert (delivery.attempts, delivery.lease_until, delivery.sent_at) == (1, None, T0)
        assert delivery.provider_message_id is not None
        assert Path(delivery.provider_message_id).is_file()
    assert issue_status(engine, number) == IssueStatus.sent
    for message in read_outbox(outbox):
        assert message["Subject"] == "Plain headline number 1, and 2 more"
        assert message["From"] == FROM
        plain, _ = parts_of(message)
        assert "Plain headline number 1" in plain


def test_a_second_send_sends_nothing(engine: Engine, tmp_path: Path) -> None:
    number = approved_issue(engine, tmp_path)
    audience(engine, 3)
    outbox = tmp_path / "outbox"
    make_sender(engine, OutboxMailer(outbox)).send(number)
    files, rows = snapshot(outbox), statuses(engine, number)
    assert len(files) == 3

    again = Recording(OutboxMailer(outbox))
    with pytest.raises(InvalidState, match=f"issue {number} is sent"):
        make_sender(engine, again, at=T0 + timedelta(days=1)).send(number)
    with unit_of_work(engine) as session:
        assert next_issue_to_send(session) is None

    assert again.handed == []
    assert snapshot(outbox) == files
    assert statuses(engine, number) == rows


def test_two_senders_starting_one_issue_at_once_send_it_once(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    number = approved_issue(engine, tmp_path)
    active = audience(engine, 12)
    together = threading.Barrier(2)
    first_look = threading.local()

    def read_together(session: Session, wanted: int) -> Issue:
        issue = get_issue(session, wanted)
        if not getattr(first_look, "done", False):  # both see it approved before either starts it
            first_look.done = True
            together.wait(timeout=10)
        return issue

    monkeypatch.setattr(send_module, "get_issue", read_together)
    mailers = [MemoryMailer(), MemoryMailer()]
    reports: list[SendReport] = []
    failures: list[BaseException] = []

    def run(mailer: MemoryMailer) -> None:
        try:
            reports.append(make_sender(engine, mailer, batch_size=3).send(number))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(mailer,)) for mailer in mailers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert sorted(m.to for mailer in mailers for m in mailer.sent) == sorted(active)
    assert sum(report.sent for report in reports) == 12
    assert statuses(engine, number) == dict.fromkeys(active, DeliveryStatus.sent)
    assert issue_status(engine, number) == IssueStatus.sent


def crash_in_second_batch(engine: Engine, tmp_path: Path) -> tuple[int, list[str], Path, Recording]:
    """Seven readers in batches of two; the run dies while handing over the second batch."""
    number = approved_issue(engine, tmp_path)
    active = audience(engine, 7)
    outbox = tmp_path / "outbox"
    crashing = Recording(OutboxMailer(outbox), crash_on=2)
    with pytest.raises(KeyboardInterrupt):
        make_sender(engine, crashing, batch_size=2).send(number)

    # The first batch is recorded as sent; the second is claimed (leased) with one message handed over.
    first, second = crashing.batches
    assert crashing.handed == [*first, second[0]]
    rest = set(active) - set(first) - set(second)
    assert (len(first), len(second), len(rest)) == (2, 2, 3)
    expected = {
        **dict.fromkeys(first, "sent"),
        **dict.fromkeys(second, "sending"),
        **dict.fromkeys(rest, "pending"),
    }
    assert statuses(engine, number) == expected
    assert issue_status(engine, number) == IssueStatus.sending
    assert recipients(outbox) == sorted([*first, second[0]])
    return number, active, outbox, crashing


def test_a_crashed_send_resumes_once_the_lease_expires(engine: Engine, tmp_path: Path) -> None:
    number, active, outbox, crashing = crash_in_second_batch(engine, tmp_path)
    first, second = crashing.batches

    resuming = Recording(OutboxMailer(outbox))
    report = make_sender(engine, resuming, at=T0 + LEASE + timedelta(seconds=1), batch_size=2).send(number)

    # What was sent stays sent: only the crashed batch and the untouched rest are handed over.
    assert sorted(resuming.handed) == sorted(set(active) - set(first))
    assert resuming.batches[0] == second
    assert (report.audience, report.sent, report.failed, report.in_flight) == (7, 5, 0, 0)
    assert issue_status(engine, number) == IssueStatus.sent
    rows = ledger(engine, number)
    assert {address: row.status for address, row in rows.items()} == dict.fromkeys(active, "sent")
    assert {address: rows[address].attempts for address in second} == dict.fromkeys(second, 2)

    # The outbox holds one message per active reader: the crashed batch's file was replaced, not doubled.
    messages = read_outbox(outbox)
    assert sorted(str(message["To"]) for message in messages) == sorted(active)
    assert len({message["Message-ID"] for message in messages}) == len(active)


def test_an_unexpired_lease_is_reported_in_flight(engine: Engine, tmp_path: Path) -> None:
    number, active, outbox, crashing = crash_in_second_batch(engine, tmp_path)
    first, second = crashing.batches

    # The same moment (or any time within the lease): the crashed batch may still be another worker's.
    resuming = Recording(OutboxMailer(outbox))
    report = make_sender(engine, resuming, at=T0 + LEASE / 2, batch_size=2).send(number)

    assert sorted(resuming.handed) == sorted(set(active) - set(first) - set(second))
    assert (report.sent, report.in_flight) == (3, 2)
    assert issue_status(engine, number) == IssueStatus.sending
    rows = statuses(engine, number)
    assert {address: rows[address] for address in second} == dict.fromkeys(second, "sending")
    assert sorted(address for address, status in rows.items() if status == "sent") == sorted(
        set(active) - set(second)
    )
    with unit_of_work(engine) as session:
        interrupted = next_issue_to_send(session)
        assert interrupted is not None
        assert interrupted.number == number


def test_unsubscribing_or_joining_during_a_send(engine: Engine, tmp_path: Path) -> None:
    number = approved_issue(engine, tmp_path)
    active = audience(engine, 4)
    joiner = "late@example.org"
    left: list[str] = []

    def while_sending(batch: list[str]) -> None:
        # While the first batch is handed over, someone waiting in a later batch leaves and someone joins.
        if not left:
            left.append(next(address for address in active if address not in batch))
            set_state(engine, left[0], SubscriberState.unsubscribed)
            add_subscriber(engine, joiner)

    outbox = tmp_path / "outbox"
    mailer = Recording(OutboxMailer(outbox), before_batch=while_sending)
    report = make_sender(engine, mailer, batch_size=2).send(number)

    (leaver,) = left
    stayed = [address for address in active if address != leaver]
    assert (report.audience, report.sent, report.skipped, report.failed) == (4, 3, 1, 0)
    assert recipients(outbox) == sorted(stayed)
    assert leaver not in mailer.handed
    rows = statuses(engine, number)
    assert rows == {**dict.fromkeys(stayed, "sent"), leaver: "skipped"}
    assert joiner not in rows
    assert issue_status(engine, number) == IssueStatus.sent


def test_a_permanent_failure_fails_one_delivery_and_the_rest_are_sent(engine: Engine, tmp_path: Path) -> None:
    number = approved_issue(engine, tmp_path)
    active = audience(engine, 4)
    refused = active[1]
    mailer = MemoryMailer()
    mailer.fail_for(refused, PermanentMailError("550 5.1.1 no such user"))

    report = make_sender(engine, mailer, batch_size=3).send(number)

    assert (report.sent, report.failed) == (3, 1)
    assert sorted(message.to for message in mailer.sent) == sorted(set(active) - {refused})
    rows = ledger(engine, number)
    assert (rows[refused].status, rows[refused].attempts) == ("failed", 1)
    assert rows[refused].last_error == "550 5.1.1 no such user"
    assert rows[refused].sent_at is None
    for address in set(active) - {refused}:
        assert (rows[address].status, rows[address].last_error) == ("sent", None)
    assert issue_status(engine, number) == IssueStatus.sent


def test_a_held_outcomes_folder_that_cannot_be_written_stops_the_send_before_anyone_is_mailed(
    engine: Engine, tmp_path: Path
) -> None:
    """Found at the start, not in the middle of a database outage when the outcomes must go there."""
    number = approved_issue(engine, tmp_path)
    audience(engine, 3)
    in_the_way = tmp_path / "held-outcomes"
    in_the_way.write_text("a file where the folder should be")
    mailer = MemoryMailer()
    sender = make_sender(engine, mailer)
    sender.settings = replace(sender.settings, held_outcomes=in_the_way)

    with pytest.raises(ConfigError, match=r"DIGEST_HELD_OUTCOMES=.*held-outcomes is not a folder"):
        sender.send(number)

    assert mailer.sent == []
    assert issue_status(engine, number) == IssueStatus.approved


def test_a_transient_failure_is_retried(engine: Engine, tmp_path: Path) -> None:
    number = approved_issue(engine, tmp_path)
    active = audience(engine, 3)
    mailer = Flaky(active[0], TransientMailError("421 4.7.0 try again later"), times=1)

    report = make_sender(engine, mailer).send(number)

    assert (report.sent, report.failed) == (3, 0)
    assert mailer.attempts == {active[0]: 2, active[1]: 1, active[2]: 1}
    rows = ledger(engine, number)
    assert (rows[active[0]].status, rows[active[0]].attempts) == ("sent", 2)
    assert sorted(message.to for message in mailer.sent) == sorted(active)
    assert issue_status(engine, number) == IssueStatus.sent


def test_a_transient_failure_fails_after_max_attempts(engine: Engine, tmp_path: Path) -> None:
    number = approved_issue(engine, tmp_path)
    active = audience(engine, 3)
    mailer = Flaky(active[2], TransientMailError("451 4.3.0 mailbox busy"))

    report = make_sender(engine, mailer).send(number)

    assert (report.sent, report.failed) == (2, 1)
    assert mailer.attempts[active[2]] == MAX_ATTEMPTS
    rows = ledger(engine, number)
    assert (rows[active[2]].status, rows[active[2]].attempts) == ("failed", MAX_ATTEMPTS)
    assert rows[active[2]].last_error == "451 4.3.0 mailbox busy"
    assert sorted(message.to for message in mailer.sent) == sorted(active[:2])
    assert issue_status(engine, number) == IssueStatus.sent


UNSUBSCRIBE_LINK = re.compile(r'<a href="([^"]+)"[^>]*>Unsubscribe</a>')
PREFERENCES_LINK = re.compile(r'<a href="([^"]+)"[^>]*>Manage preferences</a>')


def token_after(prefix: str, url: str) -> str:
    assert url.startswith(prefix), url
    return url.removeprefix(prefix)


def test_every_message_carries_its_recipients_own_links(engine: Engine, tmp_path: Path) -> None:
    number = approved_issue(engine, tmp_path)
    active = audience(engine, 3)
    outbox = tmp_path / "outbox"
    mailto = "unsubscribe@news.example.org"
    make_sender(engine, OutboxMailer(outbox), unsubscribe_mailto=mailto).send(number)
    ids = subscriber_ids(engine)

    messages = read_outbox(outbox)
    assert sorted(str(message["To"]) for message in messages) == sorted(active)
    message_ids = [str(message["Message-ID"]) for message in messages]
    assert len(set(message_ids)) == len(messages)
    assert all(re.fullmatch(r"<[^@<>\s]+@news\.example\.org>", value) for value in message_ids)

    for message in messages:
        subscriber_id, nonce = ids[str(message["To"])]
        # RFC 8058: one List-Unsubscribe with the https URL first (then the mailto), and the POST header.
        header = str(message["List-Unsubscribe"])
        found = re.fullmatch(r"<(https://[^>]+)>, <mailto:([^>]+)>", header)
        assert found is not None, header
        one_click, mailto_uri = found.groups()
        assert mailto_uri == f"{mailto}?subject=unsubscribe"
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        token = token_after(f"{BASE_URL}/unsubscribe/", one_click)
        claims = TOKENS.verify(Purpose.unsubscribe, token)
        assert (claims.subscriber_id, claims.nonce) == (subscriber_id, nonce)
        with pytest.raises(TokenInvalid):
            TOKENS.verify(Purpose.preferences, token)

        # The footer links of the HTML and the text are this reader's own, with no marker left.
        plain, body = parts_of(message)
        assert "__DIGEST_" not in plain
        assert "__DIGEST_" not in body
        unsubscribe_hrefs = [html.unescape(href) for href in UNSUBSCRIBE_LINK.findall(body)]
        preferences_hrefs = [html.unescape(href) for href in PREFERENCES_LINK.findall(body)]
        assert unsubscribe_hrefs == [one_click]
        assert len(preferences_hrefs) == 1
        preferences = TOKENS.verify(
            Purpose.preferences, token_after(f"{BASE_URL}/preferences/", preferences_hrefs[0])
        )
        assert (preferences.subscriber_id, preferences.nonce) == (subscriber_id, nonce)
        lines = plain.splitlines()
        assert f"Unsubscribe: {one_click}" in lines
        assert f"Manage preferences: {preferences_hrefs[0]}" in lines


def test_without_a_mailto_list_unsubscribe_holds_only_the_https_url(engine: Engine, tmp_path: Path) -> None:
    number = approved_issue(engine, tmp_path)
    audience(engine, 1)
    outbox = tmp_path / "outbox"
    make_sender(engine, OutboxMailer(outbox)).send(number)

    (message,) = read_outbox(outbox)
    assert re.fullmatch(rf"<{re.escape(BASE_URL)}/unsubscribe/[\w.-]+>", str(message["List-Unsubscribe"]))
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_dry_run_sends_and_writes_nothing(engine: Engine, tmp_path: Path) -> None:
    number = approved_issue(engine, tmp_path)
    audience(engine, 3)
    outbox = tmp_path / "outbox"
    mailer = Recording(OutboxMailer(outbox))

    report = dry_run(engine, number, make_sender(engine, mailer))

    assert report == SendReport(issue_number=number, audience=3, dry_run=True)
    assert mailer.handed == []
    assert not outbox.exists()
    assert ledger(engine, number) == {}
    assert issue_status(engine, number) == IssueStatus.approved
