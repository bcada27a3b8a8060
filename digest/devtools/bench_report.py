"""``digest bench --report-clicks N``: the time and memory of one issue's report (``digest report``) over
N stored clicks, against the naive way (every click read as a table object, each summary's clicks picked
from the whole list), in the same run on the same rows.

The clicks are synthetic but shaped like a week after a send: most visitors follow one to three links
minutes apart, one in ten is a scanner following every link of the message within a second (set apart
by the machine rule), on the issue's own summaries and their DOIs.
"""

import random
import tempfile
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from time import perf_counter

from sqlalchemy import Engine, insert
from sqlmodel import Session, col, select

from digest.core.engagement import Click, LinkKind, machine_clicks
from digest.db.engine import drop_everything, unit_of_work, upgrade
from digest.db.models import Engagement, Issue, IssueItem, IssueStatus
from digest.devtools.bench import bench_settings
from digest.devtools.bench_data import add_subscribers, compose_issue, require_empty
from digest.engagement.report import Count, IssueReport, issue_report
from digest.errors import InvalidState
from digest.wiring import Parts

CHUNK = 20_000


def click_rows(number: int, summaries: list[int], count: int, sent: datetime) -> Iterator[dict[str, object]]:
    """``count`` clicks on issue ``number``: people's, and every tenth visitor a scanner's burst."""
    pick = random.Random(20261205)
    made, visitor = 0, 0
    while made < count:
        visitor += 1
        at = sent + timedelta(seconds=pick.randint(60, 7 * 86_400))
        burst = visitor % 10 == 0
        kinds = (LinkKind.page, LinkKind.doi)
        links = [(s, LinkKind.page) for s in summaries] if burst else [
            (pick.choice(summaries), pick.choice(kinds)) for _ in range(pick.randint(1, 3))
        ]  # fmt: skip
        for summary, kind in links[: count - made]:
            yield {
                "issue_number": number, "summary_id": summary, "action": "click", "kind": str(kind),
                "source": "redirect", "visitor": f"{visitor:032x}", "at": at,
            }  # fmt: skip
            made += 1
            at += timedelta(milliseconds=200) if burst else timedelta(seconds=pick.randint(30, 900))


def fill_clicks(engine: Engine, number: int, count: int) -> None:
    with unit_of_work(engine) as session:
        issue = session.exec(select(Issue).where(Issue.number == number)).one()
        issue.status, issue.send_started_at = IssueStatus.sent, datetime.now(UTC) - timedelta(days=8)
        session.add(issue)
        summaries = list(session.exec(select(IssueItem.summary_id).where(IssueItem.issue_id == issue.id)))
        sent = issue.send_started_at
    rows: list[dict[str, object]] = []
    for row in click_rows(number, summaries, count, sent):
        rows.append(row)
        if len(rows) == CHUNK:
            with unit_of_work(engine) as session:
                session.execute(insert(Engagement), rows)
            rows = []
    if rows:
        with unit_of_work(engine) as session:
            session.execute(insert(Engagement), rows)


def naive_report(session: Session, number: int) -> dict[int | None, Count]:
    """The naive way: every click as a table object, each summary's people's clicks picked from the
    whole list (what ``digest report`` did before it read plain rows)."""
    query = select(Engagement).where(Engagement.issue_number == number, Engagement.action == "click")
    rows = list(session.exec(query.order_by(col(Engagement.id))))
    machine = machine_clicks([Click(row.visitor, row.at, (row.summary_id, row.kind)) for row in rows])
    people = [row for index, row in enumerate(rows) if index not in machine]
    return {
        summary: Count(
            len({row.visitor for row in people if row.summary_id == summary}),
            sum(row.summary_id == summary for row in people),
        )
        for summary in {row.summary_id for row in rows}
    }


def same_counts(report: IssueReport, naive: dict[int | None, Count]) -> None:
    """Both ways count the same readers and clicks for every summary, or the bench stops."""
    ours = {row.summary_id: row.clicks for row in report.summaries if row.clicks.total}
    if ours != {summary: count for summary, count in naive.items() if count.total}:
        raise InvalidState(f"the report and the naive way disagree: {ours} against {naive}")


def measured(action: Callable[[], object]) -> tuple[float, float]:
    """Seconds (the best of three) and peak MB of Python allocations (one more run, traced) of ``action``."""
    seconds = []
    for _ in range(3):
        started = perf_counter()
        action()
        seconds.append(perf_counter() - started)
    tracemalloc.start()
    action()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return min(seconds), peak / 1e6


def run_report_bench(*, clicks: int, database: str | None) -> str:
    with tempfile.TemporaryDirectory(prefix="digest-bench-") as scratch:
        url = database or f"sqlite:///{Path(scratch) / 'bench.db'}"
        parts = Parts(bench_settings(url, concurrency=1, batch_size=1000, email_backend="console"))
        try:
            upgrade(parts.engine)
            require_empty(parts.engine)
            add_subscribers(parts.engine, 10)
            number = compose_issue(parts)
            fill_clicks(parts.engine, number, clicks)
            now = datetime.now(UTC)
            with unit_of_work(parts.engine) as session:
                same_counts(issue_report(session, number, now=now), naive_report(session, number))
                ours = measured(lambda: issue_report(session, number, now=now))
                naive = measured(lambda: naive_report(session, number))
            return table(clicks, parts.engine.dialect.name, ours, naive)
        finally:
            if database:
                drop_everything(parts.engine)
            parts.close()


def table(clicks: int, database: str, ours: tuple[float, float], naive: tuple[float, float]) -> str:
    lines = [
        f"issue report over {clicks:,} clicks on {database} (best of 3; peak of Python allocations)",
        f"  digest report      {ours[0]:8.2f} s  {ours[1]:8.1f} MB",
        f"  the naive way      {naive[0]:8.2f} s  {naive[1]:8.1f} MB",
        f"  the naive way over digest report: {ratio(naive[0], ours[0])} the time, "
        f"{ratio(naive[1], ours[1])} the memory",
    ]
    return "\n".join(lines)


def ratio(naive: float, ours: float) -> str:
    return f"{naive / ours:.1f}x" if ours else "n/a"
