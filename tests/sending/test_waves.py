"""Local-time delivery on SQLite and PostgreSQL: waves computed when the send starts, then sent under a
fixed clock moved through the day (time-machine), each reader once at the issue's time on their own
clock, across a clock change and odd offsets; a reader who moves zone keeps their wave; a late wave follows
the misfire rule and says so."""

from datetime import time, timedelta
from pathlib import Path

import pytest
import time_machine
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from digest.db.engine import unit_of_work
from digest.issues.queries import get_issue
from digest.ops.cycle import next_send_at, send_due
from digest.sending import waves
from digest.sending.waves import LocalDelivery
from digest.subscribers import records
from tests.support import NOW
from tests.support.cli import Digest
from tests.support.editor import EDITORS, sign_in
from tests.support.sending import approved_issue, issue_status, statuses
from tests.support.waves import (
    PUBLISHER,
    Stamped,
    address_in,
    clock_change_after,
    expected_times,
    local_sender,
    readers_around_the_world,
)
from tests.support.web import draft_issue

AT = time(7, 0)


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    return {**env, "DIGEST_DELIVERY": "local", "DIGEST_TIMEZONE": PUBLISHER}


@pytest.fixture
def web_env(web_env: dict[str, str]) -> dict[str, str]:
    return {**web_env, "DIGEST_EDITORS": EDITORS}


LOCAL = LocalDelivery(PUBLISHER, misfire_grace=timedelta(hours=6))


def schedule(engine: Engine, number: int, moment: object) -> None:
    with unit_of_work(engine) as session:
        issue = get_issue(session, number)
        issue.send_at = moment  # type: ignore[assignment]
        session.add(issue)


def move(engine: Engine, address: str, zone: str) -> None:
    with unit_of_work(engine) as session:
        records.get(session, address).timezone = zone


def fixed_waves(engine: Engine, number: int) -> list[waves.WaveState]:
    with unit_of_work(engine) as session:
        return waves.fixed(session, get_issue(session, number))


def test_each_reader_once_at_their_hour_on_a_clock_change_day(engine: Engine, tmp_path: Path) -> None:
    number = approved_issue(engine, tmp_path)
    people = readers_around_the_world(engine)
    day = clock_change_after(NOW, "America/New_York", forward=True)  # St John's changes that day too
    expected = expected_times(people, day, AT)
    schedule(engine, number, expected[address_in(PUBLISHER)])
    instants = sorted(set(expected.values()))
    assert len(instants) == 6  # London's two readers share one wave
    mailer = Stamped()

    with unit_of_work(engine) as session:
        planned = waves.planned_states(session, get_issue(session, number), LOCAL)
        assert next_send_at(session, review_window=timedelta(0), now=NOW, local=LOCAL) == instants[0]
    assert [w.starts_at for w in planned] == instants
    assert planned[0].zones == ("Pacific/Kiritimati",)
    assert planned[0].local_times == (f"{day}T07:00+14:00",)

    with time_machine.travel(instants[0] - timedelta(minutes=1), tick=False) as clock:
        with local_sender(engine, mailer, LOCAL) as sender:
            send_due(engine, sender, review_window=timedelta(0), now=instants[0] - timedelta(minutes=1))
        assert statuses(engine, number) == {}  # not started before the first zone's hour
        for index, instant in enumerate(instants):
            clock.move_to(instant - timedelta(seconds=30))
            with local_sender(engine, mailer, LOCAL) as sender:
                send_due(engine, sender, review_window=timedelta(0), now=instant - timedelta(seconds=30))
            assert {to for to, at in mailer.at if at >= instant} == set()
            if index == 1:  # the audience is fixed: a London reader who moves keeps their wave
                move(engine, address_in(PUBLISHER), "Pacific/Pago_Pago")
            clock.move_to(instant)
            with local_sender(engine, mailer, LOCAL) as sender:
                due = send_due(engine, sender, review_window=timedelta(0), now=instant)
            assert due.sent[-1].waiting == sum(1 for moment in expected.values() if moment > instant)
            with unit_of_work(engine) as session:
                following = next_send_at(session, review_window=timedelta(0), now=instant, local=LOCAL)
            assert following == (instants[index + 1] if index + 1 < len(instants) else None)

    handed = {to: at for to, at in mailer.at}
    assert len(mailer.at) == len(people)  # each reader once
    assert handed == expected  # each at the issue's time on their own clock
    assert issue_status(engine, number) == "sent"
    states = fixed_waves(engine, number)
    assert [(w.state, w.readers, w.note) for w in states] == [("sent", n, "") for n in (1, 1, 2, 1, 1, 1)]


def test_late_waves_follow_the_misfire_rule_and_say_so(engine: Engine, tmp_path: Path) -> None:
    number = approved_issue(engine, tmp_path)
    people = readers_around_the_world(engine)
    day = (NOW + timedelta(days=3)).date()
    expected = expected_times(people, day, AT)
    schedule(engine, number, expected[address_in(PUBLISHER)])
    mailer = Stamped()
    first = min(expected.values())
    with time_machine.travel(first, tick=False) as clock:
        with local_sender(engine, mailer, LOCAL) as sender:
            send_due(engine, sender, review_window=timedelta(0), now=first)  # Kiritimati's, on time
        # No sender runs again until two hours after New York's time: three waves are late by more than
        # DIGEST_MISFIRE_GRACE (6h), St John's by 3h30m, New York's by 2h; Pago Pago's is still to come.
        later = expected[address_in("America/New_York")] + timedelta(hours=2)
        clock.move_to(later)
        with local_sender(engine, mailer, LOCAL) as sender:
            send_due(engine, sender, review_window=timedelta(0), now=later)

    handed = {to for to, _ in mailer.at}
    assert handed == {address_in(z) for z in ("Pacific/Kiritimati", "America/St_Johns", "America/New_York")}
    notes = {w.zones: (w.note, w.state, w.starts_at) for w in fixed_waves(engine, number)}
    moved = "late, more than DIGEST_MISFIRE_GRACE: moved to the next day"
    next_day = expected_times(people, day + timedelta(days=1), AT)
    assert notes[("Asia/Kathmandu",)] == (
        f"12h45m {moved}",
        "waiting",
        next_day[address_in("Asia/Kathmandu")],
    )
    assert notes[("Europe/London",)] == (f"7h {moved}", "waiting", next_day[address_in(PUBLISHER)])
    assert notes[("America/St_Johns",)][:2] == ("late by 3h30m: sent at once", "sent")
    assert notes[("America/New_York",)][:2] == ("late by 2h: sent at once", "sent")
    assert notes[("Pacific/Kiritimati",)][:2] == ("", "sent")
    assert notes[("Pacific/Pago_Pago",)][:2] == ("", "waiting")


def test_waves_status_metrics_and_the_editor_page_show_the_waves(
    digest: Digest, engine: Engine, env: dict[str, str], client: TestClient
) -> None:
    day = (NOW + timedelta(days=2)).date()
    with time_machine.travel(NOW, tick=False) as clock:
        for zone in ("Asia/Kathmandu", "America/St_Johns", "Africa/Accra"):
            digest("subscribers", "add", address_in(zone), "--confirmed", "--timezone", zone)
        digest("subscribers", "add", "nozone@example.org", "--confirmed")
        number = draft_issue(digest, env, first=1)
        digest("approve", str(number), "--at", f"{day} 07:00")
        planned = digest("waves", str(number)).stdout.splitlines()
        assert planned[0] == (
            f"issue {number} (approved): the waves a send started now would have, "
            f"{day} 07:00 on each reader's clock"
        )
        kathmandu = expected_times({"k": "Asia/Kathmandu"}, day, AT)["k"]
        london = expected_times({"l": PUBLISHER}, day, AT)["l"]
        assert planned[1] == (
            f"wave 1: {kathmandu:%Y-%m-%d %H:%M} UTC, 1 reader, planned: Asia/Kathmandu {day} 07:00+05:45"
        )
        assert planned[2] == (
            f"wave 2: {london:%Y-%m-%d %H:%M} UTC, 2 readers, planned: "
            f"Africa/Accra {day} 07:00+00:00; Europe/London {day} 07:00+00:00"
        )
        assert planned[3].startswith("wave 3: ")
        assert "America/St_Johns" in planned[3]
        assert sign_in(client).status_code == 303
        page = client.get(f"/editor/issues/{number}").text
        assert "What a send started now would have" in page

        clock.move_to(kathmandu)
        sent = digest("send").stdout
        assert "1 sent" in sent
        assert "3 wait for their wave" in sent
        fixed = digest("waves", str(number)).stdout.splitlines()
        assert fixed[0] == f"issue {number} (sending): the waves fixed when its send started"
        assert fixed[1].startswith(f"wave 1: {kathmandu:%Y-%m-%d %H:%M} UTC, 1 reader, sent")
        assert ", 2 readers, waiting: Africa/Accra" in fixed[2]
        status = digest("status").stdout
        assert (
            f"next wave: {london:%Y-%m-%d %H:%M} UTC (Africa/Accra, Europe/London): 2 readers, waiting"
            in status
        )
        metrics = client.get("/metrics").text
        (line,) = [row for row in metrics.splitlines() if row.startswith("digest_wave_next_start_timestamp")]
        assert float(line.split()[1]) == london.timestamp()
        assert "digest_wave_next_readers 2.0" in metrics
        assert sign_in(client).status_code == 303  # two days on: the first session ran out
        page = client.get(f"/editor/issues/{number}").text
        assert "Fixed when the send started" in page
        assert f'Asia/Kathmandu <span class="muted">{day} 07:00+05:45</span>' in page


def test_a_wave_begun_on_time_is_not_late_however_long_it_takes(engine: Engine, tmp_path: Path) -> None:
    number = approved_issue(engine, tmp_path)
    readers_around_the_world(engine)
    day = (NOW + timedelta(days=3)).date()
    london = expected_times({"l": PUBLISHER}, day, AT)["l"]
    schedule(engine, number, london)
    mailer = Stamped()
    with time_machine.travel(london, tick=False) as clock:
        # One batch of two, then a stop: Kathmandu's reader (late, within the grace) and one of London's two.
        with local_sender(engine, mailer, LOCAL, batch_size=2) as sender:
            sender.stop()
            send_due(engine, sender, review_window=timedelta(0), now=london)
        assert len(mailer.at) == 2
        clock.move_to(london + timedelta(hours=2))
        with local_sender(engine, mailer, LOCAL) as sender:
            send_due(engine, sender, review_window=timedelta(0), now=london + timedelta(hours=2))
    london_wave = next(w for w in fixed_waves(engine, number) if PUBLISHER in w.zones)
    assert (london_wave.state, london_wave.note) == ("sent", "")
