"""Compose's rule, through the command line and the editor's page, on SQLite and PostgreSQL: a summary
goes into the first issue composed after it arrives, however late it comes, unless it is older than
DIGEST_MAX_AGE, and then it is named; no summary is in two live or sent issues, none before its date;
a cancelled issue gives its summaries back."""

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from digest.core.clock import utc_now
from digest.db.engine import unit_of_work
from digest.db.models import Issue, IssueItem, Summary
from digest.issues.compose import compose
from digest.wiring import Parts
from tests.support import NOW, summary, write_summaries
from tests.support.cli import Digest
from tests.support.editor import EDITORS, sign_in

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


@pytest.fixture
def web_env(web_env: dict[str, str]) -> dict[str, str]:
    return {**web_env, "DIGEST_EDITORS": EDITORS}


def arrive(env: dict[str, str], name: str, *summaries: dict[str, Any]) -> None:
    """Summaries that a source offers from now on (a folder source keeps offering what it had)."""
    write_summaries(Path(env["DIGEST_SOURCES"]), f"{name}.json", list(summaries))


def holdings(engine: Engine) -> dict[int, tuple[str, set[str]]]:
    """Each issue's status and the ids of the summaries it holds."""
    with unit_of_work(engine) as session:
        rows = session.exec(
            select(Issue.number, Issue.status, Summary.source_id)
            .join(IssueItem, col(IssueItem.issue_id) == col(Issue.id))
            .join(Summary, col(Summary.id) == col(IssueItem.summary_id))
        )
        found: dict[int, tuple[str, set[str]]] = {}
        for number, status, source_id in rows:
            found.setdefault(number, (str(status), set()))[1].add(source_id)
        return found


def test_a_summary_that_arrives_late_goes_into_the_next_issue(
    digest: Digest, env: dict[str, str], engine: Engine, clock_at_now: time_machine.Traveller
) -> None:
    arrive(env, "monday", summary(1, published_at=NOW - 2 * HOUR))
    digest("ingest")
    assert "composed issue 1" in digest("compose").stdout

    clock_at_now.move_to(NOW + DAY)  # its source was down on Monday: dated before issue 1, here a day late
    arrive(env, "late", summary(2, published_at=NOW - 5 * HOUR))
    assert "1 new" in digest("ingest").stdout
    composed = digest("compose").stdout
    assert "composed issue 2 (draft): Plain headline number 2" in composed
    assert "skipped" not in composed
    assert holdings(engine) == {1: ("draft", {"test-001"}), 2: ("draft", {"test-002"})}
    assert "nothing new" in digest("compose").stdout


def test_a_summary_older_than_the_max_age_is_skipped_and_named(
    digest: Digest, env: dict[str, str], engine: Engine, clock_at_now: time_machine.Traveller
) -> None:
    arrive(env, "first", summary(1, published_at=NOW - HOUR))
    digest("ingest")
    digest("compose")

    clock_at_now.move_to(NOW + 40 * DAY)  # DIGEST_MAX_AGE is 30 days by default
    arrive(env, "late", summary(2, published_at=NOW + DAY), summary(3, published_at=NOW + 20 * DAY))
    digest("ingest")
    composed = digest("compose").stdout.splitlines()
    assert composed[0].startswith("composed issue 2 (draft): Plain headline number 3")
    limit = f"{NOW + 10 * DAY:%Y-%m-%d %H:%M}"
    assert composed[1].startswith(f"skipped for age: 1 summary dated on or before {limit}")
    assert composed[2:] == [f"  Plain headline number 2 (test-002, published {NOW + DAY:%Y-%m-%d})"]
    assert holdings(engine) == {1: ("draft", {"test-001"}), 2: ("draft", {"test-003"})}

    status = digest("status").stdout
    assert f"issue 2 skipped for age: 1 summary dated on or before {limit}" in status
    assert "Plain headline number 2 (test-002" in status

    again = digest("compose").stdout  # named once, by the compose after it came, not by every one after
    assert "nothing new" in again
    assert "skipped" not in again


def test_a_summary_too_old_on_arrival_is_named_even_when_nothing_is_composed(
    digest: Digest, env: dict[str, str], engine: Engine, clock_at_now: time_machine.Traveller
) -> None:
    env["DIGEST_MAX_AGE"] = "10d"
    arrive(env, "first", summary(1, published_at=NOW - HOUR))
    digest("ingest")
    digest("compose")
    clock_at_now.move_to(NOW + 20 * DAY)
    arrive(env, "late", summary(2, published_at=NOW + DAY))
    digest("ingest")

    status = digest("status").stdout
    assert "the next compose skips for age: 1 summary" in status
    composed = digest("compose").stdout
    assert "nothing new" in composed
    assert "skipped for age: 1 summary" in composed
    assert "Plain headline number 2 (test-002" in composed
    assert holdings(engine) == {1: ("draft", {"test-001"})}


def test_a_cancelled_issue_gives_its_summaries_back(
    digest: Digest, env: dict[str, str], engine: Engine, clock_at_now: time_machine.Traveller
) -> None:
    arrive(env, "week", summary(1, published_at=NOW - HOUR), summary(2, published_at=NOW - 2 * HOUR))
    digest("ingest")
    digest("compose")
    digest("cancel", "1")

    clock_at_now.move_to(NOW + 8 * DAY)  # later than DIGEST_FIRST_ISSUE_LOOKBACK, within DIGEST_MAX_AGE
    assert ", and 1 more" in digest("compose").stdout
    assert holdings(engine) == {
        1: ("cancelled", {"test-001", "test-002"}),
        2: ("draft", {"test-001", "test-002"}),
    }


def test_no_summary_is_in_two_issues_and_none_goes_before_its_date(
    digest: Digest, env: dict[str, str], engine: Engine, clock_at_now: time_machine.Traveller
) -> None:
    digest("subscribers", "add", "ada@example.org", "--confirmed")
    arrive(env, "week", summary(1, published_at=NOW - HOUR), summary(2, published_at=NOW + 2 * DAY))
    digest("ingest")
    digest("compose")
    assert "nothing new" in digest("compose").stdout  # 1 is in the draft, 2 is dated in the future
    digest("approve", "1")
    digest("send")

    clock_at_now.move_to(NOW + 3 * DAY)
    arrive(env, "late", summary(3, published_at=NOW - 3 * HOUR))
    digest("ingest")
    digest("compose")
    digest("hold", "2")
    assert "nothing new" in digest("compose").stdout  # a held issue keeps its summaries too
    assert holdings(engine) == {1: ("sent", {"test-001"}), 2: ("held", {"test-002", "test-003"})}


def test_the_editors_issue_page_names_what_was_too_old_for_it(
    digest: Digest, env: dict[str, str], client: TestClient, clock_at_now: time_machine.Traveller
) -> None:
    arrive(env, "first", summary(1, published_at=NOW - HOUR))
    digest("ingest")
    digest("compose")
    clock_at_now.move_to(NOW + 40 * DAY)
    arrive(env, "late", summary(2, published_at=NOW + DAY), summary(3, published_at=NOW + 39 * DAY))
    digest("ingest")
    digest("compose")

    sign_in(client)
    page = client.get("/editor/issues/2").text
    assert "Skipped for age" in page
    assert "Plain headline number 2" in page  # not one of its items: named only as skipped
    assert f"published {NOW + DAY:%Y-%m-%d}" in page
    assert "Skipped for age" not in client.get("/editor/issues/1").text


@pytest.mark.usefixtures("engine")
def test_the_scheduled_cycle_names_what_it_skipped_for_age(
    digest: Digest, env: dict[str, str], clock_at_now: time_machine.Traveller
) -> None:
    env["DIGEST_SCHEDULE"] = "* * * * *"
    arrive(env, "first", summary(1, published_at=NOW - HOUR))
    assert "compose: issue 1 for the period of" in digest("run").stdout
    clock_at_now.move_to(NOW + 40 * DAY)
    arrive(env, "late", summary(2, published_at=NOW + DAY), summary(3, published_at=NOW + 39 * DAY))

    cycle = digest("run").stdout
    assert "compose: issue 2 for the period of" in cycle
    assert "skipped for age: 1 summary dated on or before" in cycle
    assert "  Plain headline number 2 (test-002, published" in cycle
    assert "skipped for age: 1 (test-002)" in digest("status").stdout  # the cycle's record


def test_two_composes_at_once_take_no_summary_twice(
    digest: Digest, env: dict[str, str], engine: Engine, parts: Parts, clock_at_now: time_machine.Traveller
) -> None:
    arrive(env, "week", summary(1, published_at=NOW - HOUR), summary(2, published_at=NOW - 2 * HOUR))
    digest("ingest")
    rules = parts.compose_rules()

    def compose_alongside() -> BaseException | None:
        try:
            with unit_of_work(engine) as session:
                compose(session, parts.renderer, rules, now=utc_now())
        except Exception as exc:  # the one that lost the race
            return exc
        return None

    with ThreadPoolExecutor(1) as pool, unit_of_work(engine) as session:
        assert compose(session, parts.renderer, rules, now=utc_now()) is not None  # flushed, not committed
        other = pool.submit(compose_alongside)
        time.sleep(0.5)  # the other compose reads and tries to write while this one is open
    assert isinstance(other.result(timeout=60), IntegrityError)  # the number both chose is taken
    assert holdings(engine) == {1: ("draft", {"test-001", "test-002"})}
