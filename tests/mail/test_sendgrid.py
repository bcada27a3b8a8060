"""The SendGrid backend (digest/mail/sendgrid.py) against the stand-in (digest/mail/sendgrid_standin.py).

The real ``sendgrid`` client posts real HTTP requests to the stand-in on loopback, which validates every
body against SendGrid's OpenAPI spec and records each accepted recipient in a file. Then whole sends go
through ``IssueSender`` on SQLite and PostgreSQL, and a real ``digest send`` process is killed and
restarted until the issue is out.
"""

import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from digest.core.headers import list_unsubscribe_headers
from digest.core.personalize import Markers
from digest.db.engine import unit_of_work
from digest.db.models import DeliveryStatus, Issue, IssueStatus
from digest.devtools.sendgrid_standin import SendGridStandIn, request_validator
from digest.errors import MailerUnusable, PermanentMailError, TransientMailError
from digest.mail import Envelope, OutgoingMessage, SharedBody
from digest.mail.sendgrid import Retry, SendGridMailer
from digest.mail.sendgrid_requests import MAX_PERSONALIZATIONS, plan_requests
from tests.support.sendgrid import BASE, FROM, KEY, SPEC, accepted, kill_and_finish
from tests.support.sending import approved_issue, audience, issue_status, ledger, make_sender, statuses

# Short waits so that storms end quickly; the limits themselves are what is tested.
FAST = Retry(attempts=3, backoff=0.01, max_backoff=0.05, rate_limited=5, max_rate_limit_wait=2.0)
MARKERS = Markers.of("7" * 32)  # a render's markers, as stored with it
BODY = SharedBody(
    subject="Issue 7: three new research summaries",
    html=(
        f'<p>This week</p><a href="{MARKERS.unsubscribe}">Unsubscribe</a>'
        f' <a href="{MARKERS.preferences}">Preferences</a>'
    ),
    text=f"This week\nUnsubscribe: {MARKERS.unsubscribe}\nPreferences: {MARKERS.preferences}\n",
    from_=FROM,
    markers=MARKERS,
)


@pytest.fixture
def sendgrid(tmp_path: Path) -> Iterator[SendGridStandIn]:
    assert SPEC.is_file(), f"SendGrid's spec is missing at {SPEC}: set DIGEST_SENDGRID_SPEC"
    with SendGridStandIn(KEY, SPEC, tmp_path / "accepted.jsonl") as standin:
        yield standin


@pytest.fixture
def mailer(sendgrid: SendGridStandIn) -> Iterator[Callable[..., SendGridMailer]]:
    """Makes mailers on the stand-in (right key, fast retries unless told otherwise); closes them after."""
    made: list[SendGridMailer] = []

    def make(**options: Any) -> SendGridMailer:
        settings: dict[str, Any] = {"host": sendgrid.url, "timeout": 5.0, "retry": FAST, **options}
        made.append(SendGridMailer(settings.pop("api_key", KEY), **settings))
        return made[-1]

    yield make
    for each in made:
        each.close()


def envelopes(count: int, *, addresses: list[str] | None = None) -> list[Envelope]:
    """Envelopes shaped like the sender's: links as substitutions, one-click headers, ids as tags."""
    out = []
    for n, address in enumerate(addresses or [f"reader{n}@example.org" for n in range(count)]):
        unsubscribe = f"{BASE}/unsubscribe/token-{n}"
        out.append(
            Envelope(
                key=f"issue-7/delivery-{n}",
                to=address,
                message_id=f"<digest.7.{n}@news.example.org>",
                values={
                    MARKERS.unsubscribe: unsubscribe,
                    MARKERS.preferences: f"{BASE}/preferences/t-{n}",
                },
                headers=list_unsubscribe_headers(unsubscribe),
                tags={"issue": "7", "delivery": str(n)},
            )
        )
    return out


def statuses_seen(sendgrid: SendGridStandIn) -> list[int]:
    return [answer.status for answer in sendgrid.answered]


def fill(text: str, substitutions: dict[str, str]) -> str:
    for marker, value in substitutions.items():
        text = text.replace(marker, value)
    return text


# --- the adapter ----------------------------------------------------------------------------------------


def test_a_batch_of_2500_becomes_three_valid_requests(
    sendgrid: SendGridStandIn, mailer: Callable[..., SendGridMailer]
) -> None:
    batch = envelopes(2500)

    outcomes = mailer().send_batch(BODY, batch)

    assert [outcome.key for outcome in outcomes] == [e.key for e in batch]
    assert all(outcome.ok for outcome in outcomes)
    assert statuses_seen(sendgrid) == [202, 202, 202]
    assert sorted(answer.recipients for answer in sendgrid.answered) == [500, 1000, 1000]
    assert accepted(sendgrid) == Counter(e.to for e in batch)
    assert len({outcome.provider_id for outcome in outcomes}) == 3  # one X-Message-Id per request

    validator = request_validator(SPEC)
    by_address = {e.to: e for e in batch}
    for body in sendgrid.bodies:
        assert list(validator.iter_errors(body)) == []
        assert body["subject"] == BODY.subject
        assert body["from"] == {"email": "digest@news.example.org", "name": "Research Digest"}
        assert [part["type"] for part in body["content"]] == ["text/plain", "text/html"]
        assert body["categories"] == ["digest"]
        assert "mail_settings" not in body
        ids = [int(person["custom_args"]["delivery"]) for person in body["personalizations"]]
        assert ids == sorted(ids)  # in the envelopes' order, not reversed
        for person in body["personalizations"]:
            (to,) = person["to"]
            envelope = by_address[to["email"]]
            assert person["substitutions"] == envelope.values
            assert person["headers"] == {
                "List-Unsubscribe": f"<{BASE}/unsubscribe/token-{envelope.tags['delivery']}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                "Message-ID": envelope.message_id,
            }
            assert person["custom_args"] == {"issue": "7", "delivery": envelope.tags["delivery"]}
            text = fill(body["content"][0]["value"], person["substitutions"])
            assert f"Unsubscribe: {BASE}/unsubscribe/token-{envelope.tags['delivery']}\n" in text
    # The record carries the custom args, and never the address in them.
    for line in sendgrid.recorded():
        assert line["custom_args"]["issue"] == "7"
        assert "@" not in json.dumps(line["custom_args"])


def test_a_429_storm_waits_for_the_reset_and_then_sends(
    sendgrid: SendGridStandIn, mailer: Callable[..., SendGridMailer]
) -> None:
    sendgrid.fail_next(429, times=2, reset_in=1.0)
    batch = envelopes(5)

    outcomes = mailer().send_batch(BODY, batch)

    assert all(outcome.ok for outcome in outcomes)
    assert statuses_seen(sendgrid) == [429, 429, 202]
    for before, after in zip(sendgrid.answered, sendgrid.answered[1:], strict=False):
        assert before.reset is not None
        assert after.at >= before.reset  # each retry waited for the announced X-RateLimit-Reset
    assert accepted(sendgrid) == Counter(e.to for e in batch)


def test_a_429_storm_without_end_leaves_the_batch_transient(
    sendgrid: SendGridStandIn, mailer: Callable[..., SendGridMailer]
) -> None:
    sendgrid.fail_next(429, times=FAST.rate_limited, reset_in=0)

    outcomes = mailer().send_batch(BODY, envelopes(3))

    assert statuses_seen(sendgrid) == [429] * FAST.rate_limited
    assert all(isinstance(outcome.error, TransientMailError) for outcome in outcomes)
    assert "rate limit" in str(outcomes[0].error)
    assert sendgrid.recorded() == []


def test_waiting_for_a_rate_limit_is_bounded() -> None:
    retry = Retry(backoff=0.5, max_rate_limit_wait=30.0)
    assert 30.0 <= retry.rate_limit_pause(str(int(1e9) + 3600), now=1e9) <= 30.5
    assert 9.0 <= retry.rate_limit_pause(str(int(1e9) + 9), now=1e9) <= 9.5
    assert 0.0 <= retry.rate_limit_pause(None, now=1e9) <= 0.5
    assert 0.0 <= retry.rate_limit_pause("soon", now=1e9) <= 0.5
    pauses = [retry.pause(tries) for tries in (1, 2, 3, 10)]
    assert 0.25 <= pauses[0] <= 0.5
    assert 0.5 <= pauses[1] <= 1.0
    assert 1.0 <= pauses[2] <= 2.0
    assert pauses[3] <= retry.max_backoff


@pytest.mark.parametrize("status", [500, 502, 503])
def test_a_5xx_storm_ends_in_transient_errors(
    status: int, sendgrid: SendGridStandIn, mailer: Callable[..., SendGridMailer]
) -> None:
    sendgrid.fail_next(status, times=FAST.attempts)

    outcomes = mailer().send_batch(BODY, envelopes(4))

    assert statuses_seen(sendgrid) == [status] * FAST.attempts
    assert all(isinstance(outcome.error, TransientMailError) for outcome in outcomes)
    assert f"SendGrid answered {status}" in str(outcomes[0].error)
    assert sendgrid.recorded() == []


def test_a_short_5xx_storm_is_ridden_out(
    sendgrid: SendGridStandIn, mailer: Callable[..., SendGridMailer]
) -> None:
    sendgrid.fail_next(500, times=FAST.attempts - 1)
    batch = envelopes(4)

    outcomes = mailer().send_batch(BODY, batch)

    assert all(outcome.ok for outcome in outcomes)
    assert statuses_seen(sendgrid) == [500] * (FAST.attempts - 1) + [202]
    assert accepted(sendgrid) == Counter(e.to for e in batch)


def test_a_400_naming_one_address_fails_it_and_sends_the_rest(
    sendgrid: SendGridStandIn, mailer: Callable[..., SendGridMailer]
) -> None:
    batch = envelopes(10)
    sendgrid.refuse(batch[3].to)

    outcomes = mailer().send_batch(BODY, batch)

    assert statuses_seen(sendgrid) == [400, 202]
    error = outcomes[3].error
    assert isinstance(error, PermanentMailError)
    assert str(error) == (
        f"SendGrid refused {batch[3].to}: Does not contain a valid address. (personalizations.3.to.0.email)"
    )
    assert [outcome.ok for outcome in outcomes] == [i != 3 for i in range(10)]
    assert accepted(sendgrid) == Counter(e.to for i, e in enumerate(batch) if i != 3)


def test_a_request_refused_as_a_whole_fails_every_envelope_with_sendgrids_message(
    sendgrid: SendGridStandIn, mailer: Callable[..., SendGridMailer]
) -> None:
    no_subject = SharedBody(subject="", html=BODY.html, text=BODY.text, from_=FROM)

    outcomes = mailer().send_batch(no_subject, envelopes(3))

    assert statuses_seen(sendgrid) == [400]
    assert all(isinstance(outcome.error, PermanentMailError) for outcome in outcomes)
    assert "(subject)" in str(outcomes[0].error)
    assert sendgrid.recorded() == []


def test_a_401_raises_mailer_unusable_and_nothing_is_accepted(
    sendgrid: SendGridStandIn, mailer: Callable[..., SendGridMailer]
) -> None:
    wrong = mailer(api_key="SG.revoked")

    with pytest.raises(MailerUnusable, match="set DIGEST_SENDGRID_API_KEY to a valid SendGrid API key"):
        wrong.send_batch(BODY, envelopes(2500))
    with pytest.raises(MailerUnusable, match="401"):
        wrong.send(OutgoingMessage("k", "reader@example.org", FROM, "Confirm", "<p>x</p>", "x", "<m@x>"))

    assert set(statuses_seen(sendgrid)) == {401}
    assert len(sendgrid.answered) <= 4  # three requests of the batch at most, never retried, and the one
    assert sendgrid.recorded() == []


def test_a_refusal_after_some_requests_were_accepted_keeps_what_was_sent(
    sendgrid: SendGridStandIn, mailer: Callable[..., SendGridMailer]
) -> None:
    sendgrid.fail_next(401, after=1)  # the key is revoked while a batch is going out
    batch = envelopes(2500)
    sequential = mailer(concurrency=1)

    outcomes = sequential.send_batch(BODY, batch)

    # Raising would lose the first request's 1,000 acceptances: they are reported sent, the rest go back.
    assert statuses_seen(sendgrid) == [202, 401]  # the third request was never posted
    assert all(outcome.ok for outcome in outcomes[:1000])
    assert all(isinstance(outcome.error, TransientMailError) for outcome in outcomes[1000:])
    assert "DIGEST_SENDGRID_API_KEY" in str(outcomes[1000].error)
    assert accepted(sendgrid) == Counter(e.to for e in batch[:1000])
    # The next batch is refused as a whole, and that pauses the send.
    sendgrid.fail_next(401)
    with pytest.raises(MailerUnusable):
        sequential.send_batch(BODY, batch[1000:])


def test_a_403_says_which_permission_the_key_needs(
    sendgrid: SendGridStandIn, mailer: Callable[..., SendGridMailer]
) -> None:
    sendgrid.fail_next(403)
    with pytest.raises(MailerUnusable, match="Mail Send permission"):
        mailer().send_batch(BODY, envelopes(3))
    assert statuses_seen(sendgrid) == [403]


def test_a_slow_server_and_a_short_timeout_give_a_transient_error(
    sendgrid: SendGridStandIn, mailer: Callable[..., SendGridMailer]
) -> None:
    sendgrid.slow_next(1.0, times=FAST.attempts)
    started = time.monotonic()

    outcomes = mailer(timeout=0.2).send_batch(BODY, envelopes(3))

    assert time.monotonic() - started < FAST.attempts * 1.0  # it never waited for the slow answers
    assert all(isinstance(outcome.error, TransientMailError) for outcome in outcomes)
    assert "timed out" in str(outcomes[0].error)
    assert f"after {FAST.attempts} tries" in str(outcomes[0].error)
    # A timeout is ambiguous: the slow server still accepted every try. SendGrid has no idempotency key,
    # so a timed-out request that is tried again (here, or by the ledger later) can mean a second copy.
    deadline = time.monotonic() + 5
    while len(sendgrid.answered) < FAST.attempts and time.monotonic() < deadline:
        time.sleep(0.05)
    assert statuses_seen(sendgrid) == [202] * FAST.attempts


def test_duplicate_addresses_never_share_a_request(
    sendgrid: SendGridStandIn, mailer: Callable[..., SendGridMailer]
) -> None:
    distinct = [f"reader{n}@example.org" for n in range(1200)]
    # Some addresses come twice, one of them three times and in another case.
    addresses = [*distinct, *distinct[:150], "READER7@example.org"]
    batch = envelopes(len(addresses), addresses=addresses)

    outcomes = mailer().send_batch(BODY, batch)

    assert all(outcome.ok for outcome in outcomes)  # any shared request would have been a 400
    assert set(statuses_seen(sendgrid)) == {202}
    counts = Counter(line["email"].lower() for line in sendgrid.recorded())
    assert counts == Counter(address.lower() for address in addresses)
    for body in sendgrid.bodies:
        inside = [person["to"][0]["email"].lower() for person in body["personalizations"]]
        assert len(inside) == len(set(inside)) <= MAX_PERSONALIZATIONS


def test_addresses_that_need_escaping_arrive_exactly_as_given(
    sendgrid: SendGridStandIn, mailer: Callable[..., SendGridMailer]
) -> None:
    odd = [
        '"quoted\\back\\slash"@example.org',
        "jörg.müller@example.org",
        '"Ann \\"the reader\\"" <ann@example.org>',
        "Zoë Ångström <zoe@example.org>",
    ]
    batch = envelopes(len(odd), addresses=odd)

    outcomes = mailer().send_batch(BODY, batch)

    assert all(outcome.ok for outcome in outcomes), [o.error for o in outcomes]
    (body,) = sendgrid.bodies
    assert [person["to"] for person in body["personalizations"]] == [
        [{"email": '"quoted\\back\\slash"@example.org'}],
        [{"email": "jörg.müller@example.org"}],
        [{"email": "ann@example.org", "name": 'Ann "the reader"'}],
        [{"email": "zoe@example.org", "name": "Zoë Ångström"}],
    ]
    assert [person["substitutions"] for person in body["personalizations"]] == [e.values for e in batch]


def test_debug_logging_writes_no_address_or_link_of_a_send(
    sendgrid: SendGridStandIn, mailer: Callable[..., SendGridMailer], caplog: pytest.LogCaptureFixture
) -> None:
    batch = envelopes(3)

    with caplog.at_level(logging.DEBUG):
        outcomes = mailer().send_batch(BODY, batch)

    assert all(outcome.ok for outcome in outcomes)
    assert "POST Request" in caplog.text  # the client did log the request, at debug level
    for envelope in batch:
        assert envelope.to not in caplog.text
        assert envelope.values[MARKERS.unsubscribe] not in caplog.text


def test_the_stand_in_refuses_a_body_that_is_not_json(sendgrid: SendGridStandIn) -> None:
    status, _, body = sendgrid.answer("/v3/mail/send", f"Bearer {KEY}", b"{}", "text/plain")

    assert status == 415
    assert body is not None
    assert "application/json" in body["errors"][0]["message"]
    assert sendgrid.recorded() == []


def test_requests_are_planned_in_order_without_repeating_an_address() -> None:
    assert plan_requests(["a@x", "b@x", "A@x", "c@x", "a@x"]) == [[0, 1, 3], [2], [4]]
    assert [len(group) for group in plan_requests([f"r{n}@x" for n in range(2001)])] == [1000, 1000, 1]
    assert plan_requests([]) == []


def test_a_single_message_and_sandbox_mode(
    sendgrid: SendGridStandIn, mailer: Callable[..., SendGridMailer]
) -> None:
    message = OutgoingMessage(
        key="notices/confirm-1",
        to="new.reader@example.org",
        from_=FROM,
        subject="Confirm your subscription",
        html="<p>Confirm</p>",
        text="Confirm",
        message_id="<confirm.1@news.example.org>",
    )

    provider_id = mailer().send(message)

    (body,) = sendgrid.bodies
    assert provider_id
    assert provider_id == sendgrid.recorded()[0]["message_id"]
    assert body["personalizations"] == [
        {"to": [{"email": message.to}], "headers": {"Message-ID": message.message_id}}
    ]
    assert [part["type"] for part in body["content"]] == ["text/plain", "text/html"]

    # Sandbox: SendGrid validates and answers 200, and sends nothing.
    outcomes = mailer(sandbox=True).send_batch(BODY, envelopes(3))
    assert all(outcome.ok for outcome in outcomes)
    assert statuses_seen(sendgrid) == [202, 200]
    assert accepted(sendgrid) == Counter({message.to: 1})


# --- whole sends through the ledger, SQLite and PostgreSQL -----------------------------------------------


def test_an_issue_reaches_every_active_subscriber_once(
    engine: Engine, tmp_path: Path, sendgrid: SendGridStandIn, mailer: Callable[..., SendGridMailer]
) -> None:
    number = approved_issue(engine, tmp_path)
    active = audience(engine, 30)

    report = make_sender(engine, mailer(), batch_size=7).send(number)

    assert (report.audience, report.sent, report.failed, report.skipped) == (30, 30, 0, 0)
    assert accepted(sendgrid) == Counter(active)
    rows = ledger(engine, number)
    assert {address: row.status for address, row in rows.items()} == dict.fromkeys(
        active, DeliveryStatus.sent
    )
    for line in sendgrid.recorded():
        row = rows[line["email"]]
        assert line["custom_args"] == {"issue": str(number), "delivery": str(row.id), "variant": "1"}
        assert row.provider_message_id == line["message_id"]
    assert issue_status(engine, number) == IssueStatus.sent
    for body in sendgrid.bodies:
        for person in body["personalizations"]:
            [unsubscribe] = [value for key, value in person["substitutions"].items() if "UNSUBSCRIBE" in key]
            assert person["headers"]["List-Unsubscribe"] == f"<{unsubscribe}>"
            assert unsubscribe in fill(body["content"][1]["value"], person["substitutions"])


def test_a_401_pauses_the_send_and_resume_completes_it(
    engine: Engine, tmp_path: Path, sendgrid: SendGridStandIn, mailer: Callable[..., SendGridMailer]
) -> None:
    number = approved_issue(engine, tmp_path)
    active = audience(engine, 12)

    report = make_sender(engine, mailer(api_key="SG.revoked"), batch_size=5).send(number)

    assert report.paused is not None
    assert "DIGEST_SENDGRID_API_KEY" in report.paused
    assert report.sent == 0
    with unit_of_work(engine) as session:
        issue = session.exec(select(Issue).where(Issue.number == number)).one()
        assert issue.paused_reason is not None
        assert "DIGEST_SENDGRID_API_KEY" in issue.paused_reason
    assert statuses(engine, number) == dict.fromkeys(active, DeliveryStatus.pending)
    assert sendgrid.recorded() == []

    # The key is fixed: the paused send resumes and completes.
    resumed = make_sender(engine, mailer(), batch_size=5).send(number, resume=True)

    assert (resumed.sent, resumed.paused) == (12, None)
    assert accepted(sendgrid) == Counter(active)
    assert statuses(engine, number) == dict.fromkeys(active, DeliveryStatus.sent)
    assert issue_status(engine, number) == IssueStatus.sent


# --- a real `digest send` process, killed and restarted --------------------------------------------------

CRASH_SUBSCRIBERS = 300
CRASH_BATCH = 10
CRASH_KILLS = 4


def test_a_killed_send_resumes_and_everyone_gets_the_issue_once(
    engine: Engine, database_url: str, tmp_path: Path, sendgrid: SendGridStandIn
) -> None:
    number = approved_issue(engine, tmp_path)
    active = audience(engine, CRASH_SUBSCRIBERS)

    kills = kill_and_finish(
        engine,
        number,
        sendgrid,
        batch=CRASH_BATCH,
        database_url=database_url,
        folder=tmp_path,
        rounds=CRASH_KILLS,
    )

    assert kills >= 2, f"only {kills} runs were killed before the send finished"
    assert issue_status(engine, number) == IssueStatus.sent
    assert statuses(engine, number) == dict.fromkeys(active, DeliveryStatus.sent)
    counts = accepted(sendgrid)
    assert set(counts) == set(active)  # everyone, and no one who is not active
    # The documented window: a batch SendGrid accepted but the killed run never recorded is sent again
    # once its lease expires. That is at most one batch per kill; nothing else is ever sent twice.
    extra = sum(count - 1 for count in counts.values())
    print(f"{kills} kills, {extra} recipients accepted twice (bound {kills * CRASH_BATCH})")
    assert extra <= kills * CRASH_BATCH
    rows = ledger(engine, number)
    for address, count in counts.items():
        if count > 1:
            assert rows[address].attempts >= count  # every copy came from its own claim of the delivery
