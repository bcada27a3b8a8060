"""Bounces and complaints count for the issue whose delivery caused them (issue 17): two issues sent
through the SendGrid stand-in, then SendGrid reports a bounce and a spam report about issue 1's emails
after issue 2 went out; issue 1's report counts them and issue 2's does not, on SQLite and PostgreSQL."""

import json
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from digest.db.engine import unit_of_work
from digest.db.models import Delivery, Issue, Subscriber
from digest.devtools.sendgrid_standin import SendGridStandIn
from digest.wiring import Parts
from tests.support.cli import Digest
from tests.support.leaving import from_sendgrid
from tests.support.sendgrid import KEY, SPEC
from tests.support.web import send_issue
from tests.support.webhook import PUBLIC_KEY, SIGNATURE, TIMESTAMP, sign

ANN, BOB, CY = "ann@example.org", "bob@example.org", "cy@example.org"


@pytest.fixture
def web_env(web_env: dict[str, str]) -> dict[str, str]:
    return {**web_env, "DIGEST_SENDGRID_WEBHOOK_PUBLIC_KEY": PUBLIC_KEY}


def delivery_of(parts: Parts, email: str, number: int) -> int:
    with unit_of_work(parts.engine) as session:
        query = (
            select(Delivery.id)
            .join(Issue, Issue.id == Delivery.issue_id)  # type: ignore[arg-type]
            .join(Subscriber, Subscriber.id == Delivery.subscriber_id)  # type: ignore[arg-type]
            .where(Issue.number == number, Subscriber.email == email)
        )
        found = session.exec(query).one()
        assert found is not None
        return found


def reported(client: TestClient, events: list[dict[str, Any]]) -> None:
    """SendGrid's signed webhook POST of ``events``."""
    raw = json.dumps(events).encode()
    stamp = str(int(time.time()))
    answer = client.post(
        "/webhooks/sendgrid", content=raw, headers={TIMESTAMP: stamp, SIGNATURE: sign(raw, stamp)}
    )
    assert answer.status_code in (200, 204), answer.text


def test_bounces_and_complaints_count_for_the_issue_that_caused_them(
    digest: Digest, env: dict[str, str], tmp_path: Path, client: TestClient, parts: Parts
) -> None:
    for reader in (ANN, BOB, CY):
        digest("subscribers", "add", reader, "--confirmed")
    with SendGridStandIn(KEY, SPEC, tmp_path / "accepted.jsonl") as sendgrid:
        env.update(
            DIGEST_EMAIL_BACKEND="sendgrid", DIGEST_SENDGRID_API_KEY=KEY, DIGEST_SENDGRID_HOST=sendgrid.url
        )
        assert (send_issue(digest, env, 1, 2), send_issue(digest, env, 3, 2)) == (1, 2)
        assert len(from_sendgrid(list[dict[str, Any]](sendgrid.bodies))) == 6

    now = int(time.time()) + 1  # whole seconds, as SendGrid stamps them: not before the sign-ups
    about_issue_1 = [
        {"event": "bounce", "type": "bounce", "status": "5.1.1", "reason": "550 5.1.1 no such user",
         "email": ANN, "delivery": str(delivery_of(parts, ANN, 1)), "issue": "1"},
        {"event": "spamreport", "email": BOB, "delivery": str(delivery_of(parts, BOB, 1)), "issue": "1"},
    ]  # fmt: skip
    reported(
        client, [{**e, "timestamp": now, "sg_event_id": f"evt-{n}"} for n, e in enumerate(about_issue_1)]
    )

    one, two = (json.loads(digest("report", str(n), "--json").stdout) for n in (1, 2))
    assert (one["bounced"], one["complained"], one["delivered"]) == (1, 1, 2)
    assert (two["bounced"], two["complained"], two["delivered"]) == (0, 0, 3)
