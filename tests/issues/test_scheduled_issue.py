"""One issue sent at the time an editor gives, on SQLite and PostgreSQL: ``digest approve N --at`` on the
publisher's clocks (DIGEST_TIMEZONE), moved and cleared until the send starts, the same on the editor's
issue page; nothing goes before the time, and a held issue never goes. The clock is fixed (time-machine)
at a constant instant and moved through the days."""

from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from digest.db.engine import unit_of_work
from digest.issues.decisions import trail
from digest.issues.queries import get_issue
from digest.ops.cycle import next_send_at
from tests.support import NOW
from tests.support.cli import Digest
from tests.support.editor import EDITORS, act, sign_in
from tests.support.sending import statuses
from tests.support.web import draft_issue

ZONE = "America/New_York"


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    return {**env, "DIGEST_TIMEZONE": ZONE}


@pytest.fixture
def web_env(web_env: dict[str, str]) -> dict[str, str]:
    return {**web_env, "DIGEST_EDITORS": EDITORS, "DIGEST_TIMEZONE": ZONE}


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def on_the_publishers_clock(moment: datetime) -> str:
    return moment.astimezone(ZoneInfo(ZONE)).strftime("%Y-%m-%d %H:%M")


def send_at(engine: Engine, number: int) -> datetime | None:
    with unit_of_work(engine) as session:
        return get_issue(session, number).send_at


def readers(digest: Digest) -> None:
    for address in ("ada@example.org", "bob@example.org"):
        digest("subscribers", "add", address, "--confirmed")


def test_an_issue_moved_then_sent_at_its_time(
    digest: Digest, engine: Engine, env: dict[str, str], clock: time_machine.Traveller
) -> None:
    readers(digest)
    number = draft_issue(digest, env, first=1)
    past = digest("approve", str(number), "--at", on_the_publishers_clock(NOW - timedelta(hours=1)), ok=False)
    assert "is in the past: give a time to come" in past.stderr
    assert send_at(engine, number) is None

    first, moved = NOW + timedelta(days=1), NOW + timedelta(days=2, hours=3)
    first, moved = (moment.replace(second=0, microsecond=0) for moment in (first, moved))
    approved = digest("approve", str(number), "--at", on_the_publishers_clock(first))
    assert approved.stdout.strip() == (
        f"issue {number} is approved; it goes out at {on_the_publishers_clock(first)} {ZONE}"
    )
    digest("approve", str(number), "--at", on_the_publishers_clock(moved))
    assert send_at(engine, number) == moved
    with unit_of_work(engine) as session:
        assert next_send_at(session, review_window=timedelta(0), now=NOW) == moved
        actions = [(row.action, row.detail) for row in reversed(trail(session, get_issue(session, number)))]
    assert ("schedule", f"for {on_the_publishers_clock(moved)} {ZONE}") in actions

    assert digest("send").stdout.startswith(f"nothing to send now: issue {number} goes out at")
    refused = digest("send", str(number), ok=False)
    assert f"issue {number} is scheduled: its send starts at {moved:%Y-%m-%d %H:%M} UTC" in refused.stderr
    clock.move_to(first + timedelta(minutes=5))  # its first time: moved since, so nothing goes
    assert "nothing to send now" in digest("send").stdout
    assert set(statuses(engine, number).values()) == set()

    clock.move_to(moved + timedelta(minutes=1))
    assert "2 sent" in digest("send").stdout
    assert set(statuses(engine, number).values()) == {"sent"}
    late = digest(
        "approve", str(number), "--at", on_the_publishers_clock(moved + timedelta(days=1)), ok=False
    )
    assert f"issue {number} is sent: its send time can no longer change" in late.stderr


def test_a_held_issue_never_goes_and_a_cleared_one_goes_at_once(
    digest: Digest, engine: Engine, env: dict[str, str], clock: time_machine.Traveller
) -> None:
    readers(digest)
    held = draft_issue(digest, env, first=1)
    when = (NOW + timedelta(hours=5)).replace(second=0, microsecond=0)
    digest("approve", str(held), "--at", on_the_publishers_clock(when))
    digest("hold", str(held))
    clock.move_to(when + timedelta(hours=1))
    assert "is held, not approved" in digest("send", ok=False).stderr
    assert statuses(engine, held) == {}

    digest("cancel", str(held))
    cleared = draft_issue(digest, env, first=5)
    digest("approve", str(cleared), "--at", on_the_publishers_clock(when + timedelta(days=3)))
    assert digest("approve", str(cleared), "--now").stdout.strip() == f"issue {cleared} is approved"
    assert send_at(engine, cleared) is None
    assert "2 sent" in digest("send").stdout


def test_the_editor_sets_moves_and_clears_the_time_on_the_issue_page(
    client: TestClient, digest: Digest, engine: Engine, env: dict[str, str], clock: time_machine.Traveller
) -> None:
    number = draft_issue(digest, env, first=1)
    assert sign_in(client).status_code == 303
    page = client.get(f"/editor/issues/{number}")
    assert 'type="datetime-local" id="send-at" name="send_at" value=""' in page.text
    assert "No time set: it goes with the next send once approved." in page.text

    when = (NOW + timedelta(days=1, hours=2)).replace(second=0, microsecond=0)
    field = when.astimezone(ZoneInfo(ZONE)).strftime("%Y-%m-%dT%H:%M")
    saved = act(client, number, "schedule", send_at=field)
    assert saved.status_code == 303
    assert send_at(engine, number) == when
    shown = client.get(f"/editor/issues/{number}")
    assert (
        f"Scheduled for <strong>{on_the_publishers_clock(when)} {ZONE}</strong>, once approved." in shown.text
    )
    assert f'value="{field}"' in shown.text

    past = act(client, number, "schedule", send_at=(NOW - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"))
    assert past.status_code == 409
    assert "is in the past" in past.text
    nonsense = act(client, number, "schedule", send_at="next tuesday")
    assert nonsense.status_code == 409
    assert "not a date and time: &#39;next tuesday&#39;" in nonsense.text
    assert send_at(engine, number) == when

    assert act(client, number, "unschedule").status_code == 303
    assert send_at(engine, number) is None
