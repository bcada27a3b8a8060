"""``POST /webhooks/sendgrid``: SendGrid's signed Event Webhook, on SQLite and PostgreSQL.

Signatures are checked against SendGrid's own test vectors, and against a key generated here that signs
real payloads built from SendGrid's example events: replayed, duplicated and re-ordered.
"""

import base64
import copy
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlmodel import col, func, select

from digest.db.engine import unit_of_work
from digest.db.models import Delivery, DeliveryStatus, ProviderEvent, Subscriber
from digest.errors import ConfigError
from digest.issues import queries as issue_queries
from digest.mail import MemoryMailer
from digest.mail.sendgrid_events import EventSignatures
from digest.ops.rates import IssueRates
from digest.sending import ledger
from digest.subscribers import subscriptions
from digest.subscribers.events import DROPPED_FOR
from digest.subscribers.records import find, suppression_hash
from digest.web.context import Web
from tests.support import CORPORA, NOW, whole_issue
from tests.support.cli import Digest
from tests.support.sending import add_subscriber, approved_issue, make_sender
from tests.support.webhook import PUBLIC_KEY, SIGNATURE, TIMESTAMP, sign

SENDGRID_DATA = CORPORA / "sendgrid"
VECTORS = json.loads((SENDGRID_DATA / "signed_event_webhook_vectors.json").read_text(encoding="utf-8"))
ALL_TYPES: list[dict[str, Any]] = json.loads(
    (SENDGRID_DATA / "event_webhook_all_types.json").read_text(encoding="utf-8")
)


def web_of(client: TestClient) -> Web:
    """The app's wired parts, to change one for a test (the key, the blocked limit)."""
    app = client.app
    assert isinstance(app, FastAPI)
    web: Web = app.state.web
    return web


def post(
    client: TestClient,
    events: Any,
    *,
    at: float | None = None,
    signature: str | None = None,
    body: bytes | None = None,
) -> Any:
    raw = body if body is not None else json.dumps(events, separators=(",", ":")).encode()
    timestamp = str(int(time.time() if at is None else at))
    headers = {TIMESTAMP: timestamp, SIGNATURE: signature or sign(raw, timestamp)}
    return client.post("/webhooks/sendgrid", content=raw, headers=headers)


@pytest.fixture
def web_env(web_env: dict[str, str]) -> dict[str, str]:
    return {**web_env, "DIGEST_SENDGRID_WEBHOOK_PUBLIC_KEY": PUBLIC_KEY}


_sequence = iter(range(1, 10**9))


def event(
    kind: str, email: str, *, minute: int = 1, delivery: int | None = None, **fields: Any
) -> dict[str, Any]:
    """A SendGrid event like the documented example of ``kind``, about ``email``, ``minute`` after NOW."""
    base = next((e for e in ALL_TYPES if e["event"] == kind), None) or {"event": kind}
    built = {
        **copy.deepcopy(base),
        "email": email,
        "timestamp": int((NOW + timedelta(minutes=minute)).timestamp()),
        "sg_event_id": f"evt-{next(_sequence)}",
        **fields,
    }
    if delivery is not None:
        built.update(issue="1", delivery=str(delivery))
    return built


def state(engine: Engine, email: str) -> str:
    with unit_of_work(engine) as session:
        subscriber = find(session, email)
        assert subscriber is not None
        return subscriber.state


def stored_events(engine: Engine) -> list[ProviderEvent]:
    with unit_of_work(engine) as session:
        return list(session.exec(select(ProviderEvent).order_by(col(ProviderEvent.id))))


def deliveries(engine: Engine) -> dict[str, Delivery]:
    with unit_of_work(engine) as session:
        rows = session.exec(
            select(Subscriber.email, Delivery).join(
                Delivery, col(Delivery.subscriber_id) == col(Subscriber.id)
            )
        )
        return {email: delivery for email, delivery in rows}


def sent_issue(engine: Engine, tmp_path: Path, addresses: list[str]) -> dict[str, int]:
    """Issue 1 sent to ``addresses``; their delivery ids."""
    number = approved_issue(engine, tmp_path)
    for address in addresses:
        add_subscriber(engine, address)
    report = make_sender(engine, MemoryMailer()).send(number)
    assert report.sent == len(addresses)
    return {email: delivery.id or 0 for email, delivery in deliveries(engine).items()}


# --- signatures -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", VECTORS["cases"], ids=lambda case: case["name"])
def test_sendgrids_signed_vectors(case: dict[str, Any]) -> None:
    signatures = EventSignatures(case.get("public_key_b64", VECTORS["public_key_b64"]))
    moment = datetime.fromtimestamp(1600112502 + 60, UTC)

    refusal = signatures.refusal(case["payload"].encode(), case["signature"], case["timestamp"], now=moment)

    assert (refusal is None) == case["expect_valid"], refusal


@pytest.mark.parametrize("case", VECTORS["cases"], ids=lambda case: case["name"])
def test_sendgrids_signed_vectors_through_the_route(
    client: TestClient, engine: Engine, case: dict[str, Any]
) -> None:
    web_of(client).event_signatures = EventSignatures(case.get("public_key_b64", VECTORS["public_key_b64"]))
    headers = {SIGNATURE: case["signature"], TIMESTAMP: case["timestamp"]}

    with time_machine.travel(datetime.fromtimestamp(1600112502 + 30, UTC), tick=False):
        answer = client.post("/webhooks/sendgrid", content=case["payload"].encode(), headers=headers)

    assert answer.status_code == (200 if case["expect_valid"] else 403)
    if case["expect_valid"]:
        [kept] = stored_events(engine)
        assert (kept.event, kept.subscriber_id, kept.outcome) == (
            "dropped",
            None,
            "unknown address: kept, ignored",
        )
        assert kept.email_hash == suppression_hash("hello@world.com")
    else:
        assert stored_events(engine) == []


def test_a_vector_replayed_later_than_ten_minutes_is_refused(client: TestClient, engine: Engine) -> None:
    web_of(client).event_signatures = EventSignatures(VECTORS["public_key_b64"])
    valid = VECTORS["cases"][0]
    headers = {SIGNATURE: valid["signature"], TIMESTAMP: valid["timestamp"]}

    with time_machine.travel(datetime.fromtimestamp(1600112502 + 601, UTC), tick=False):
        answer = client.post("/webhooks/sendgrid", content=valid["payload"].encode(), headers=headers)

    assert answer.status_code == 403
    assert answer.json() == {"error": "refused: the timestamp is more than 10 minutes from now"}
    assert stored_events(engine) == []


def test_requests_that_are_not_signed_by_the_key_are_refused(client: TestClient, engine: Engine) -> None:
    events = [event("spamreport", "ada@example.org")]
    body = json.dumps(events, separators=(",", ":")).encode()
    now = str(int(time.time()))
    other_key = ec.generate_private_key(ec.SECP256R1())
    refused = {
        "no headers": client.post("/webhooks/sendgrid", content=body),
        "no signature": client.post("/webhooks/sendgrid", content=body, headers={TIMESTAMP: now}),
        "another key": post(client, events, signature=sign(body, now, other_key)),
        "re-serialised JSON": post(
            client, events, body=json.dumps(events, indent=2).encode(), signature=sign(body, now)
        ),
        "another timestamp": post(client, events, at=time.time() - 5, signature=sign(body, now)),
        "eleven minutes old": post(client, events, at=time.time() - 660),
        "eleven minutes ahead": post(client, events, at=time.time() + 660),
        "beyond the calendar": post(client, events, at=999999999999),
        "not base64": post(client, events, signature="not base64 at all!"),
        "not DER": post(client, events, signature=base64.b64encode(b"\x30\x02\x00\x00").decode()),
        "not UTF-8": post(client, None, body=b"[\xff\xfe]"),
        "a timestamp that is not a number": client.post(
            "/webhooks/sendgrid", content=body, headers={TIMESTAMP: "soon", SIGNATURE: sign(body, "soon")}
        ),
    }

    assert {name: answer.status_code for name, answer in refused.items()} == dict.fromkeys(refused, 403)
    assert stored_events(engine) == []


def test_without_a_public_key_every_request_is_refused(client: TestClient, engine: Engine) -> None:
    web_of(client).event_signatures = None

    answer = post(client, [event("spamreport", "ada@example.org")])

    assert answer.status_code == 403
    assert "DIGEST_SENDGRID_WEBHOOK_PUBLIC_KEY" in answer.json()["error"]


@pytest.mark.parametrize(
    "key", ["", "not a key", "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE", base64.b64encode(b"x" * 91).decode()]
)
def test_a_public_key_that_cannot_be_read_is_a_config_error(key: str) -> None:
    with pytest.raises(ConfigError, match="DIGEST_SENDGRID_WEBHOOK_PUBLIC_KEY is not a valid public key"):
        EventSignatures(key)


def test_a_signed_body_that_is_not_an_array_of_events_is_a_bad_request(client: TestClient) -> None:
    assert post(client, None, body=b'{"event": "bounce"}').status_code == 400
    assert post(client, None, body=b"[{").status_code == 400


# --- what events do -------------------------------------------------------------------------------------


def test_every_documented_event_type(client: TestClient, engine: Engine, tmp_path: Path) -> None:
    kinds = [example["event"] for example in ALL_TYPES]
    addresses = [f"{kind.replace('_', '-')}@example.org" for kind in kinds]
    ids = sent_issue(engine, tmp_path, addresses)
    events = [event(kind, email, delivery=ids[email]) for kind, email in zip(kinds, addresses, strict=True)]

    answer = post(client, events)

    assert answer.status_code == 200
    assert answer.json() == {"received": 11, "new": 11, "duplicates": 0, "malformed": 0}
    states = {email: state(engine, email) for email in addresses}
    assert states == {
        "processed@example.org": "active",
        "deferred@example.org": "active",
        "delivered@example.org": "active",
        "open@example.org": "active",
        "click@example.org": "active",
        "bounce@example.org": "bounced",  # no type given: a hard bounce
        "dropped@example.org": "bounced",  # "Bounced Address"
        "spamreport@example.org": "complained",
        "unsubscribe@example.org": "unsubscribed",
        "group-unsubscribe@example.org": "unsubscribed",
        "group-resubscribe@example.org": "active",  # coming back is for our own confirmation
    }
    provider = {email: delivery.provider_status for email, delivery in deliveries(engine).items()}
    assert provider == {
        "processed@example.org": "processed",
        "deferred@example.org": "deferred",
        "delivered@example.org": "delivered",
        "open@example.org": None,
        "click@example.org": None,
        "bounce@example.org": "bounced",
        "dropped@example.org": "dropped",
        "spamreport@example.org": None,
        "unsubscribe@example.org": None,
        "group-unsubscribe@example.org": None,
        "group-resubscribe@example.org": None,
    }
    kept = stored_events(engine)
    assert len(kept) == 11
    assert {row.issue_number for row in kept} == {1}
    # Opens and clicks (readings of the email) are kept naming no one: no address hash, no subscriber.
    readings = {"open@example.org", "click@example.org"}
    assert {row.email_hash for row in kept if row.event not in ("open", "click")} == {
        suppression_hash(email) for email in addresses if email not in readings
    }
    assert {(row.email_hash, row.subscriber_id) for row in kept if row.event in ("open", "click")} == {
        ("", None)
    }


def test_the_documented_payload_as_it_is_counts_once_its_shared_event_id(
    client: TestClient, engine: Engine
) -> None:
    # SendGrid's example gives every event the same sg_event_id: an event is kept once per id.
    answer = post(client, ALL_TYPES)

    assert answer.json() == {"received": 11, "new": 1, "duplicates": 10, "malformed": 0}
    [kept] = stored_events(engine)
    assert (kept.provider_event_id, kept.subscriber_id) == ("sg_event_id", None)


def test_replayed_and_duplicated_events_change_nothing_twice(
    client: TestClient, engine: Engine, tmp_path: Path
) -> None:
    ids = sent_issue(engine, tmp_path, ["ada@example.org", "bob@example.org"])
    events = [
        event("delivered", "ada@example.org", delivery=ids["ada@example.org"]),
        event("unsubscribe", "bob@example.org", minute=2),
    ]
    events.append(dict(events[1]))  # the same event twice in one request

    first = post(client, events)
    with unit_of_work(engine) as session:
        bob = find(session, "bob@example.org")
        assert bob is not None
        subscriptions.rejoin(session, bob, now=NOW + timedelta(minutes=5))  # bob comes back
    replay = post(client, events)

    assert first.json() == {"received": 3, "new": 2, "duplicates": 1, "malformed": 0}
    assert replay.json() == {"received": 3, "new": 0, "duplicates": 3, "malformed": 0}
    assert state(engine, "bob@example.org") == "active"  # the replayed unsubscribe did not count again
    assert len(stored_events(engine)) == 2


def test_events_in_any_order_end_in_the_same_state(
    client: TestClient, engine: Engine, tmp_path: Path
) -> None:
    addresses = ["ada@example.org", "bob@example.org", "cy@example.org"]
    ids = sent_issue(engine, tmp_path, addresses)
    ada, bob = ids["ada@example.org"], ids["bob@example.org"]
    # Sent newest first, across requests: each later request carries older events.
    post(client, [event("bounce", "ada@example.org", minute=30, delivery=ada, type="bounce")])
    post(client, [event("delivered", "ada@example.org", minute=20, delivery=ada)])
    post(client, [event("processed", "ada@example.org", minute=10, delivery=ada)])
    post(client, [event("delivered", "bob@example.org", minute=20, delivery=bob)])
    post(client, [event("deferred", "bob@example.org", minute=15, delivery=bob)])
    post(
        client,
        [event("unsubscribe", "cy@example.org", minute=40), event("spamreport", "cy@example.org", minute=30)],
    )
    post(client, [event("group_unsubscribe", "cy@example.org", minute=50)])

    rows = deliveries(engine)
    assert (rows["ada@example.org"].provider_status, state(engine, "ada@example.org")) == (
        "bounced",
        "bounced",
    )
    assert rows["ada@example.org"].provider_event_at == NOW + timedelta(minutes=30)
    assert (rows["bob@example.org"].provider_status, state(engine, "bob@example.org")) == (
        "delivered",
        "active",
    )
    assert state(engine, "cy@example.org") == "complained"  # a complaint outranks any unsubscribe


@pytest.mark.parametrize("limit", [None, "2"])
def test_blocked_bounces_count_only_in_a_row(
    client: TestClient, engine: Engine, tmp_path: Path, limit: str | None
) -> None:
    if limit:
        web_of(client).blocked_in_a_row = int(limit)
    in_a_row = int(limit or 3)
    add_subscriber(engine, "ada@example.org")
    add_subscriber(engine, "bob@example.org")

    def blocked(email: str, minute: int) -> dict[str, Any]:
        return event("bounce", email, minute=minute, type="blocked", reason="550 blocked by policy")

    for minute in range(1, in_a_row):
        post(client, [blocked("ada@example.org", minute)])
    assert state(engine, "ada@example.org") == "active"
    post(client, [blocked("ada@example.org", in_a_row)])
    assert state(engine, "ada@example.org") == "bounced"

    # A delivery between blocks breaks the row, in whatever order the events arrive.
    post(client, [event("delivered", "bob@example.org", minute=3)])
    post(client, [blocked("bob@example.org", minute) for minute in (5, 1, 4, 2)])
    assert state(engine, "bob@example.org") == ("active" if in_a_row == 3 else "bounced")


def test_dropped_reasons_about_the_address_and_about_the_message(client: TestClient, engine: Engine) -> None:
    reasons = {
        "bounced": "Bounced Address",
        "invalid": "Invalid",
        "spam": "Spam Reporting Address",
        "unsub": "Unsubscribed Address",
        "content": "Spam Content (if spam checker app enabled)",
    }
    for name in reasons:
        add_subscriber(engine, f"{name}@example.org")

    post(client, [event("dropped", f"{name}@example.org", reason=reason) for name, reason in reasons.items()])

    assert {name: state(engine, f"{name}@example.org") for name in reasons} == {
        "bounced": "bounced",
        "invalid": "bounced",
        "spam": "complained",
        "unsub": "unsubscribed",
        "content": "active",
    }


def test_events_for_unknown_addresses_and_malformed_events_are_kept_or_skipped(
    client: TestClient, engine: Engine
) -> None:
    add_subscriber(engine, "ada@example.org")
    events: list[Any] = [
        event("bounce", "nobody@example.org"),
        event("bounce", "not an address"),
        {"event": "bounce"},
        "a string",
        None,
        event("open", "ADA@Example.org"),
    ]

    answer = post(client, events)

    assert answer.json() == {"received": 6, "new": 3, "duplicates": 0, "malformed": 3}
    kept = stored_events(engine)
    assert [(row.event, row.subscriber_id is None, row.outcome) for row in kept] == [
        ("bounce", True, "unknown address: kept, ignored"),
        ("bounce", True, "unknown address: kept, ignored"),
        # A reading of an email is kept naming no one; without a delivery it finds no issue to count for.
        ("open", True, "names no delivery to this address: kept, not counted"),
    ]
    assert state(engine, "ada@example.org") == "active"


def test_an_event_from_before_the_latest_confirmation_changes_nothing(
    client: TestClient, engine: Engine
) -> None:
    add_subscriber(engine, "ada@example.org")  # confirmed at NOW
    answer = post(client, [event("bounce", "ada@example.org", minute=-60, type="bounce")])

    assert answer.status_code == 200
    assert state(engine, "ada@example.org") == "active"
    [kept] = stored_events(engine)
    assert kept.outcome == "older than the subscriber's latest confirmation: kept, ignored"


def test_a_delivery_named_for_someone_else_is_not_touched(
    client: TestClient, engine: Engine, tmp_path: Path
) -> None:
    ids = sent_issue(engine, tmp_path, ["ada@example.org", "bob@example.org"])

    post(client, [event("delivered", "ada@example.org", delivery=ids["bob@example.org"])])
    post(client, [event("delivered", "ada@example.org", delivery=10**12)])

    assert {email: row.provider_status for email, row in deliveries(engine).items()} == {
        "ada@example.org": None,
        "bob@example.org": None,
    }


def test_suppression_holds_at_send_time(client: TestClient, engine: Engine, tmp_path: Path) -> None:
    number = approved_issue(engine, tmp_path)
    readers = [f"reader{n}@example.org" for n in range(1, 6)]
    for address in readers:
        add_subscriber(engine, address)
    with unit_of_work(engine) as session:
        issue = issue_queries.get_issue(session, number)
        ledger.begin(
            session, issue, now=NOW, variants=whole_issue
        )  # the send has started: five pending deliveries
    post(
        client,
        [
            event("bounce", "reader1@example.org", type="bounce"),
            event("spamreport", "reader2@example.org"),
            event("group_unsubscribe", "reader3@example.org"),
        ],
    )
    mailer = MemoryMailer()

    report = make_sender(engine, mailer).send(number)

    assert (report.sent, report.skipped) == (2, 3)
    assert sorted(message.to for message in mailer.sent) == ["reader4@example.org", "reader5@example.org"]
    statuses = {email: row.status for email, row in deliveries(engine).items()}
    assert [statuses[address] for address in readers] == [DeliveryStatus.skipped] * 3 + [
        DeliveryStatus.sent
    ] * 2


def test_a_complained_address_is_never_mailed_again_not_even_a_confirmation(
    client: TestClient, engine: Engine, outbox: Path, digest: Digest
) -> None:
    add_subscriber(engine, "ada@example.org")
    post(client, [event("spamreport", "ada@example.org")])

    answer = client.post("/subscribe", json={"email": "ada@example.org", "consent": True})
    refused = digest("subscribers", "add", "ada@example.org", "--confirmed", ok=False)

    assert answer.status_code == 202
    assert state(engine, "ada@example.org") == "complained"
    assert not list(outbox.glob("**/*.eml"))
    assert (
        refused.stderr.strip()
        == "error: ada@example.org reported the digest as spam: it is never mailed again"
    )


def test_export_shows_the_events_and_erasure_clears_their_reasons(client: TestClient, engine: Engine) -> None:
    add_subscriber(engine, "ada@example.org")
    post(
        client,
        [
            event(
                "bounce", "ada@example.org", type="bounce", reason="550 5.1.1 <ada@example.org>: no such user"
            )
        ],
    )

    with unit_of_work(engine) as session:
        ada = find(session, "ada@example.org")
        assert ada is not None
        exported = subscriptions.export(session, ada)
        subscriptions.erase(session, ada, now=NOW + timedelta(hours=1))

    assert exported["provider_events"] == [
        {
            "event": "bounce",
            "at": (NOW + timedelta(minutes=1)).isoformat(),
            "reason": "550 5.1.1 <ada@example.org>: no such user",
            "outcome": "subscriber bounced",
        }
    ]
    [kept] = stored_events(engine)
    assert (kept.reason, kept.outcome) == (None, "subscriber bounced")


# --- what ops see ---------------------------------------------------------------------------------------


def test_status_shows_the_last_issues_bounce_and_complaint_rates(
    client: TestClient, engine: Engine, tmp_path: Path, digest: Digest
) -> None:
    addresses = [f"reader{n}@example.org" for n in range(1, 5)]
    ids = sent_issue(engine, tmp_path, addresses)
    post(
        client,
        [
            event("delivered", "reader1@example.org", delivery=ids["reader1@example.org"]),
            event("bounce", "reader2@example.org", delivery=ids["reader2@example.org"], type="bounce"),
            event(
                "bounce", "reader2@example.org", minute=2, delivery=ids["reader2@example.org"], type="bounce"
            ),
            event("spamreport", "reader3@example.org", delivery=ids["reader3@example.org"]),
            event("spamreport", "stranger@example.org", delivery=ids["reader4@example.org"]),
        ],
    )

    lines = digest("status").stdout.splitlines()

    assert (
        "bounces and complaints: issue 1: 1 bounced (25.00 % ABOVE the 0.3 % line), "
        "1 complained (25.00 % ABOVE the 0.3 % line) of 4 sent; the line is 0.3 %"
    ) in lines


def test_rates_under_the_line_are_not_flagged(engine: Engine, tmp_path: Path) -> None:
    rates = IssueRates(issue_number=12, sent=4210, bounced=3, complained=1)

    assert rates.line == (
        "issue 12: 3 bounced (0.07 %), 1 complained (0.02 %) of 4210 sent; the line is 0.3 %"
    )


def test_two_requests_with_the_same_events_at_once_keep_each_event_once(
    client: TestClient, engine: Engine
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    add_subscriber(engine, "ada@example.org")
    events = [event("delivered", "ada@example.org", minute=m) for m in range(1, 30)]

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: post(client, events), range(4)))

    assert all(answer.status_code in (200, 503) for answer in answers)
    assert sum(answer.json().get("new", 0) for answer in answers) == len(events)
    with unit_of_work(engine) as session:
        assert session.exec(select(func.count()).select_from(ProviderEvent)).one() == len(events)


# --- no input crashes it ------------------------------------------------------------------------------------

KINDS = [example["event"] for example in ALL_TYPES]
# Text with what databases refuse made likely: NUL and lone surrogates.
AWKWARD = st.text(
    st.sampled_from(["\x00", "\ud800", "\x1b", "<", "a", "é", "\u2028"]), min_size=1, max_size=12
)
ANYTHING = AWKWARD | st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(st.characters(codec=None), max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)
FIELD_VALUES = {
    "event": st.sampled_from(KINDS) | ANYTHING,
    "email": AWKWARD.map(lambda part: f"ada{part}@example.org") | ANYTHING,
    "sg_event_id": AWKWARD | ANYTHING,
    "timestamp": st.integers() | st.floats() | ANYTHING,
    "type": st.sampled_from(["bounce", "blocked"]) | AWKWARD,
    "reason": st.sampled_from(list(DROPPED_FOR)) | AWKWARD,
    "response": AWKWARD,
    "delivery": st.integers() | AWKWARD | ANYTHING,
}
# Mostly events SendGrid could send, each with a field or two replaced by anything; some pure noise.
EVENTS = st.lists(
    st.builds(
        lambda kind, email, changes: {
            "event": kind,
            "email": email,
            "sg_event_id": f"evt-{next(_sequence)}",
            **changes,
        },
        st.sampled_from(KINDS),
        st.sampled_from(["ada@example.org", "ADA@EXAMPLE.ORG", "nobody@example.org"]),
        st.fixed_dictionaries({}, optional=FIELD_VALUES),
    )
    | ANYTHING,
    max_size=8,
)


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(events=EVENTS)
def test_no_signed_payload_crashes_the_webhook(client: TestClient, engine: Engine, events: list[Any]) -> None:
    with unit_of_work(engine) as session:
        if find(session, "ada@example.org") is None:
            add_subscriber(engine, "ada@example.org")

    answer = post(client, events)

    assert answer.status_code == 200, answer.text
    assert answer.json()["received"] == len(events)


def test_overlapping_batches_about_the_same_subscribers_never_deadlock(
    client: TestClient, engine: Engine
) -> None:
    """Two requests naming the same people in opposite orders: each waits its turn, neither fails."""
    from concurrent.futures import ThreadPoolExecutor

    people = [f"reader{n}@example.org" for n in range(12)]
    for address in people:
        add_subscriber(engine, address)

    def batch(order: list[str]) -> list[dict[str, Any]]:
        return [event("delivered", address, minute=m) for m, address in enumerate(order, start=1)]

    with ThreadPoolExecutor(2) as pool:
        for _ in range(15):
            answers = list(pool.map(lambda order: post(client, batch(order)), [people, people[::-1]]))
            assert [answer.status_code for answer in answers] == [200, 200], answers[0].text
