"""An unsubscribe counts for the issue whose link or one-click header was used (issue 17), on SQLite
and PostgreSQL, through the outbox, a real SMTP server (aiosmtpd) and the real SendGrid client against
the stand-in: two issues are sent, readers leave from the first after the second went out, and the report
counts them for the first. Links from before links named their issue still unsubscribe (counted by the
older rule); a token whose issue was changed is refused; the record names no reader under aggregate."""

import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from sqlmodel import col, select

from digest.core.engagement import Tracking
from digest.db.engine import unit_of_work
from digest.db.models import Subscriber
from digest.devtools.sendgrid_standin import SendGridStandIn
from digest.subscribers import links as leaving
from digest.subscribers.leaving import LeftBy
from digest.tokens import Purpose
from digest.wiring import Parts
from tests.support import read_outbox
from tests.support.cli import Digest
from tests.support.leaving import (
    BASE_URL,
    ISSUE_OF,
    Links,
    from_messages,
    from_sendgrid,
    from_smtp,
    state_of,
    unsubscribe_rows,
)
from tests.support.sendgrid import KEY, SPEC
from tests.support.smtp import Recorder, free_port
from tests.support.web import link_in, path_of, preferences_action, send_issue

ANN, BOB, CY, DEE = "ann@example.org", "bob@example.org", "cy@example.org", "dee@example.org"
ONE_CLICK = {"List-Unsubscribe": "One-Click"}
Delivered = Callable[[], dict[tuple[str, int], Links]]


@pytest.fixture(params=["outbox", "smtp", "sendgrid"])
def delivered(
    request: pytest.FixtureRequest, env: dict[str, str], outbox: Path, tmp_path: Path
) -> Iterator[Delivered]:
    """The mail backend the CLI sends through; what reached readers, by reader and issue."""
    if request.param == "outbox":
        yield lambda: from_messages(read_outbox(outbox))
    elif request.param == "smtp":
        recorder = Recorder()
        controller = Controller(recorder, hostname="127.0.0.1", port=free_port())
        controller.start()
        env.update(DIGEST_EMAIL_BACKEND="smtp", DIGEST_SMTP_URL=f"smtp://127.0.0.1:{controller.port}")
        yield lambda: from_smtp(recorder)
        controller.stop()
    else:
        with SendGridStandIn(KEY, SPEC, tmp_path / "accepted.jsonl") as sendgrid:
            env.update(
                DIGEST_EMAIL_BACKEND="sendgrid",
                DIGEST_SENDGRID_API_KEY=KEY,
                DIGEST_SENDGRID_HOST=sendgrid.url,
            )
            yield lambda: from_sendgrid(list[dict[str, Any]](sendgrid.bodies))


def two_issues_sent(
    digest: Digest, env: dict[str, str], delivered: Delivered
) -> dict[tuple[str, int], Links]:
    for reader in (ANN, BOB, CY, DEE):
        digest("subscribers", "add", reader, "--confirmed")
    assert (send_issue(digest, env, 1, 2), send_issue(digest, env, 3, 2)) == (1, 2)
    links = delivered()
    assert sorted(links) == sorted((reader, issue) for reader in (ANN, BOB, CY, DEE) for issue in (1, 2))
    for reader in (ANN, BOB, CY, DEE):
        assert links[reader, 1].footer != links[reader, 2].footer  # each issue's link names it
    return links


def report(digest: Digest, number: int) -> dict[str, Any]:
    figures: dict[str, Any] = json.loads(digest("report", str(number), "--json").stdout)
    return figures


def test_readers_who_leave_from_issue_1_after_issue_2_count_for_issue_1(
    digest: Digest, env: dict[str, str], delivered: Delivered, client: TestClient, parts: Parts
) -> None:
    links = two_issues_sent(digest, env, delivered)

    # Ann opens issue 1's footer link and presses the button on its page, then presses it again.
    page = client.get(links[ANN, 1].footer_path)
    assert page.status_code == 200
    assert 'name="from" value="page"' in page.text
    for _ in range(2):
        assert client.post(links[ANN, 1].footer_path, data={"from": "page"}).status_code == 200
    # Bob's mail client unsubscribes with issue 1's one-click header, twice (RFC 8058 POSTs).
    for _ in range(2):
        assert client.post(links[BOB, 1].one_click_path, data=ONE_CLICK).status_code == 200
    assert (state_of(parts.engine, ANN), state_of(parts.engine, BOB)) == ("unsubscribed", "unsubscribed")

    one, two = report(digest, 1), report(digest, 2)
    assert (one["unsubscribed"], two["unsubscribed"]) == (2, 0)
    assert one["unsubscribe_rate"] == round(2 / 4, 4)
    assert one["movement"][-1]["unsubscribed"] == 2
    exposed = client.get("/metrics").text
    assert 'digest_issue_unsubscribed{issue="1"} 2.0' in exposed
    assert 'digest_issue_unsubscribed{issue="2"} 0.0' in exposed

    # The records: one per leaver, with its issue and how they left, and nothing that names them.
    rows = unsubscribe_rows(parts.engine)
    assert sorted((row.issue_number, row.source) for row in rows) == [(1, "link"), (1, "one-click")]
    assert [(row.subscriber_id, row.visitor) for row in rows] == [(None, ""), (None, "")]


def test_a_link_from_before_links_named_their_issue_still_unsubscribes(
    digest: Digest, env: dict[str, str], delivered: Delivered, client: TestClient, parts: Parts
) -> None:
    links = two_issues_sent(digest, env, delivered)
    with unit_of_work(parts.engine) as session:
        cy = session.exec(select(Subscriber).where(Subscriber.email == CY)).one()
        old = parts.tokens.sign(Purpose.unsubscribe, cy.id or 0, cy.token_nonce)  # no issue, as before
    assert old.count(".") == 2  # id.nonce.signature

    assert CY in client.get(f"/unsubscribe/{old}").text
    assert client.post(f"/unsubscribe/{old}", data=ONE_CLICK).status_code == 200
    assert state_of(parts.engine, CY) == "unsubscribed"
    # Dee leaves from issue 1's link: recorded for issue 1, so the older rule does not count her for 2.
    assert client.post(links[DEE, 1].one_click_path, data=ONE_CLICK).status_code == 200

    # No record for Cy: the older rule counts her for the last issue she was sent before leaving.
    assert [(row.issue_number, row.source) for row in unsubscribe_rows(parts.engine)] == [(1, "one-click")]
    assert (report(digest, 1)["unsubscribed"], report(digest, 2)["unsubscribed"]) == (1, 1)


def test_a_token_whose_issue_was_changed_is_refused(
    digest: Digest, env: dict[str, str], delivered: Delivered, client: TestClient, parts: Parts
) -> None:
    links = two_issues_sent(digest, env, delivered)
    token = links[ANN, 1].footer.rsplit("/", 1)[1]
    subscriber, nonce, issue, signature = token.split(".")
    assert issue == "1"
    for forged in (f"{subscriber}.{nonce}.2.{signature}", f"{subscriber}.{nonce}.{signature}"):
        assert client.get(f"/unsubscribe/{forged}").status_code == 400
        answer = client.post(f"/unsubscribe/{forged}", data=ONE_CLICK)
        assert answer.status_code == 400
        assert ANN not in answer.text
    assert state_of(parts.engine, ANN) == "active"
    assert unsubscribe_rows(parts.engine) == []
    assert report(digest, 1)["unsubscribed"] == report(digest, 2)["unsubscribed"] == 0
    assert BASE_URL in links[ANN, 1].one_click


@pytest.fixture
def tracking_off(env: dict[str, str]) -> None:
    env["DIGEST_TRACKING"] = "off"  # before the web app reads the environment


@pytest.mark.usefixtures("tracking_off")
def test_with_tracking_off_each_issue_still_counts_who_left_from_it(
    digest: Digest, env: dict[str, str], outbox: Path, client: TestClient, parts: Parts
) -> None:
    links = two_issues_sent(digest, env, lambda: from_messages(read_outbox(outbox)))
    assert "/r/" not in links[ANN, 1].footer
    assert client.post(links[ANN, 2].footer_path, data={"from": "page"}).status_code == 200

    rows = unsubscribe_rows(parts.engine)
    assert [(row.issue_number, row.source, row.subscriber_id) for row in rows] == [(2, "link", None)]
    assert (report(digest, 1)["unsubscribed"], report(digest, 2)["unsubscribed"]) == (0, 1)
    assert "unsubscribes since the send:" in digest("report", "2").stdout


def test_under_individual_tracking_the_record_names_the_reader(
    digest: Digest, env: dict[str, str], outbox: Path, parts: Parts
) -> None:
    links = two_issues_sent(digest, env, lambda: from_messages(read_outbox(outbox)))
    token = links[BOB, 1].one_click.rsplit("/", 1)[1]
    with unit_of_work(parts.engine) as session:
        bob = session.exec(select(Subscriber.id).where(Subscriber.email == BOB)).one()

    leaving.unsubscribe(
        parts.engine,
        parts.tokens,
        token,
        now=datetime.now(UTC),
        by=LeftBy.one_click,
        tracking=Tracking.individual,
    )

    rows = unsubscribe_rows(parts.engine)
    assert [(row.issue_number, row.source, row.subscriber_id) for row in rows] == [(1, "one-click", bob)]


@pytest.fixture(params=[Tracking.aggregate, Tracking.individual])
def tracking(request: pytest.FixtureRequest, env: dict[str, str]) -> Tracking:
    env["DIGEST_TRACKING"] = str(request.param)  # before the web app reads the environment
    return Tracking(request.param)


def test_leaving_on_the_preferences_page_of_issue_1s_email_counts_for_issue_1(
    tracking: Tracking, digest: Digest, env: dict[str, str], outbox: Path, client: TestClient, parts: Parts
) -> None:
    two_issues_sent(digest, env, lambda: from_messages(read_outbox(outbox)))
    emails = {
        (str(message["To"]), int(found.group(1))): message
        for message in read_outbox(outbox)
        if (found := ISSUE_OF.search(str(message["Message-ID"])))
    }
    # Ann follows "Manage preferences" in issue 1's email after issue 2 went out, and presses "Leave".
    page = path_of(link_in(emails[ANN, 1], "preferences"))
    assert preferences_action(client, page, "leave").status_code == 200
    assert state_of(parts.engine, ANN) == "unsubscribed"
    # Pressing it again, or leaving again from issue 2's page, changes nothing and records nothing.
    assert preferences_action(client, page, "leave").status_code == 200
    assert (
        preferences_action(client, path_of(link_in(emails[ANN, 2], "preferences")), "leave").status_code
        == 200
    )

    with unit_of_work(parts.engine) as session:
        ann = session.exec(select(Subscriber.id).where(Subscriber.email == ANN)).one()
    named = ann if tracking == Tracking.individual else None
    rows = unsubscribe_rows(parts.engine)
    assert [(row.issue_number, row.source, row.subscriber_id) for row in rows] == [(1, "prefs", named)]
    assert (report(digest, 1)["unsubscribed"], report(digest, 2)["unsubscribed"]) == (1, 0)


def test_two_unsubscribes_at_once_count_once(digest: Digest, parts: Parts) -> None:
    """A mail client's one-click POST and the reader's button at the same moment, for several readers:
    one change of state each, so one record each."""
    readers = [f"reader{n}@example.org" for n in range(8)]
    for reader in readers:
        digest("subscribers", "add", reader, "--confirmed")
    with unit_of_work(parts.engine) as session:
        found = session.exec(select(Subscriber).where(col(Subscriber.email).in_(readers))).all()
        tokens = [parts.tokens.sign(Purpose.unsubscribe, s.id or 0, s.token_nonce, 1) for s in found]
    failures: list[BaseException] = []
    for token in tokens:
        at_once = threading.Barrier(2)

        def leave(by: LeftBy, token: str = token, at_once: threading.Barrier = at_once) -> None:
            at_once.wait()
            try:
                leaving.unsubscribe(parts.engine, parts.tokens, token, now=datetime.now(UTC), by=by)
            except Exception as failure:  # a thread's exception would otherwise go unseen
                failures.append(failure)

        threads = [threading.Thread(target=leave, args=(by,)) for by in (LeftBy.link, LeftBy.one_click)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert failures == []
    assert len(unsubscribe_rows(parts.engine)) == len(readers)
    assert {state_of(parts.engine, reader) for reader in readers} == {"unsubscribed"}
