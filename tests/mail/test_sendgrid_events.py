"""SendGrid's open and click events read at the adapter (``mail/sendgrid_events.py``), from SendGrid's own
documented examples and signed test vectors (``corpora/sendgrid``)."""

import json
from datetime import UTC, datetime

from digest.mail.sendgrid_events import EventSignatures, parse
from tests.support import CORPORA

SENDGRID = CORPORA / "sendgrid"
NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def test_documented_open_and_click_events_carry_their_link_and_client() -> None:
    examples = json.loads((SENDGRID / "event_webhook_per_event_examples.json").read_text("utf-8"))["examples"]
    body = json.dumps([*examples["open"], *examples["click"]]).encode()
    opened, clicked = parse(body, now=NOW).events
    assert (opened.event, opened.url, opened.machine) == ("open", None, False)
    assert clicked.event == "click"
    assert clicked.url == "http://www.sendgrid.com/"
    for found in (opened, clicked):
        assert found.client == "255.255.255.255"
        assert found.user_agent.startswith("Mozilla/4.0 (compatible; MSIE 6.1")
        assert found.occurred_at == datetime.fromtimestamp(1513299569, UTC)
        assert found.delivery_id is None  # the examples carry no custom args: no delivery, never counted


def test_every_documented_type_still_parses_and_only_machine_opens_say_so() -> None:
    every = json.loads((SENDGRID / "event_webhook_all_types.json").read_text("utf-8"))
    machine = {**next(e for e in every if e["event"] == "open"), "sg_machine_open": True}
    batch = parse(json.dumps([*every, machine, {**machine, "sg_machine_open": "true"}]).encode(), now=NOW)
    assert batch.received == len(every) + 2
    assert [e.machine for e in batch.events].count(True) == 1  # a boolean true only, as SendGrid sends it


def test_signed_vectors_verify_as_sendgrid_says() -> None:
    vectors = json.loads((SENDGRID / "signed_event_webhook_vectors.json").read_text("utf-8"))
    for case in vectors["cases"]:
        signatures = EventSignatures(case.get("public_key_b64", vectors["public_key_b64"]))
        signatures.max_age = datetime.now(UTC) - datetime.fromtimestamp(0, UTC)  # the vectors are from 2020
        refusal = signatures.refusal(case["payload"].encode(), case["signature"], case["timestamp"], now=NOW)
        assert (refusal is None) is case["expect_valid"], case["name"]
