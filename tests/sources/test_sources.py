"""Ingesting summaries: validation and rejection messages, upserts, locking, and the shipped samples."""

import itertools
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine

from digest.db.engine import unit_of_work
from digest.db.models import IssueStatus
from digest.ingest.summaries import SourceReport
from digest.issues.editing import edit_words
from digest.mail import MemoryMailer
from digest.sending.sender import IssueSender, SendSettings
from digest.sources.folder import FolderSource
from digest.sources.samples import SampleSource
from digest.subscribers import records as subscriber_service
from digest.tokens import Tokens
from tests.support import NOW, summary, write_summaries
from tests.support.cli import Digest
from tests.support.sources import compose_issue, decide, issue_number, renderer, run, stored

LATER = NOW + timedelta(hours=1)


def run_folder(engine: Engine, folder: Path, *, now: datetime = NOW) -> SourceReport:
    [report] = run(engine, FolderSource(folder), now=now)
    return report


def send(engine: Engine, number: int) -> None:
    """Send issue ``number`` for real, through the in-memory mailer, to one active subscriber."""
    with unit_of_work(engine) as session:
        consent = subscriber_service.Consent(form="test")
        subscriber_service.add(session, "ada@example.org", confirmed=True, consent=consent, now=NOW)
    settings = SendSettings(
        from_="Research Digest <digest@news.example.org>", base_url="https://d.example.org"
    )
    sender = IssueSender(engine, MemoryMailer(), Tokens(["a-test-key"]), settings, renderer())
    assert sender.send(number).sent == 1
    assert issue_number(engine, number).status == IssueStatus.sent


# --- rejections ---------------------------------------------------------------------------------------


def bad_cases() -> list[Any]:
    naive = datetime(2026, 11, 23, 8, 0)  # the point: no time zone
    return [
        pytest.param(
            summary(1, key_takeaway=None), "test-001", "key_takeaway", "missing", id="missing-field"
        ),
        pytest.param(summary(1, title=None), "test-001", "title", "missing", id="missing-title"),
        pytest.param(
            summary(1, url="http://summaries.example.org/s/1"), "test-001", "url", "https", id="http-url"
        ),
        pytest.param(
            summary(1, published_at=naive), "test-001", "published_at", "time zone", id="naive-date"
        ),
        pytest.param(
            summary(1, published_at=datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14)))),
            "test-001",
            "published_at",
            "within the years 1 to 9999",
            id="before-year-one-in-utc",
        ),
        pytest.param(
            summary(
                1, published_at=datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(-timedelta(hours=14)))
            ),
            "test-001",
            "published_at",
            "within the years 1 to 9999",
            id="after-year-9999-in-utc",
        ),
        pytest.param(42, "(no id)", "(summary)", "expected a JSON object, got int", id="number"),
        pytest.param("a summary", "(no id)", "(summary)", "expected a JSON object, got str", id="string"),
        pytest.param(
            [["nested"]], "(no id)", "(summary)", "expected a JSON object, got list", id="list-item"
        ),
    ]


@pytest.mark.parametrize(("content", "summary_id", "field", "reason"), bad_cases())
def test_a_bad_summary_is_rejected_by_file_id_and_field_and_the_rest_goes_in(
    engine: Engine, tmp_path: Path, content: Any, summary_id: str, field: str, reason: str
) -> None:
    folder = tmp_path / "summaries"
    write_summaries(folder, "bad.json", content)
    write_summaries(folder, "good.json", summary(2))

    report = run_folder(engine, folder)

    assert (report.new, report.updated, report.unchanged) == (1, 0, 0)
    [message] = report.rejected
    assert message.startswith(f"bad.json: summary {summary_id}: {field}: ")
    assert reason in message
    assert set(stored(engine)) == {"test-002"}
    assert "1 new, 0 updated, 0 unchanged, 1 rejected" in report.line


def test_a_file_that_is_not_json_is_rejected_by_name(engine: Engine, tmp_path: Path) -> None:
    folder = tmp_path / "summaries"
    folder.mkdir()
    (folder / "broken.json").write_text('{"id": "test-001", "title": ', encoding="utf-8")
    (folder / "latin1.json").write_bytes(
        json.dumps(summary(3, title="Café"), ensure_ascii=False).encode("latin-1")
    )
    write_summaries(folder, "good.json", summary(2))

    report = run_folder(engine, folder)

    assert report.new == 1
    broken, latin1 = sorted(report.rejected)
    assert broken.startswith("broken.json: summary (no id): (file): not valid JSON")
    assert latin1.startswith("latin1.json: summary (no id): (file): not valid JSON")
    assert set(stored(engine)) == {"test-002"}


def test_one_bad_item_in_a_list_does_not_stop_the_others(engine: Engine, tmp_path: Path) -> None:
    folder = tmp_path / "summaries"
    items = [
        summary(1),
        summary(2, url="ftp://summaries.example.org/2"),
        summary(3),
        summary(4, what_it_means=""),
    ]
    write_summaries(folder, "week.json", items)
    write_summaries(folder, "more.json", summary(5))

    report = run_folder(engine, folder)

    assert report.new == 3
    assert sorted(report.rejected) == [
        "week.json: summary test-002: url: must be an https:// URL without spaces",
        "week.json: summary test-004: what_it_means: String should have at least 1 character",
    ]
    assert set(stored(engine)) == {"test-001", "test-003", "test-005"}


def test_every_field_at_fault_is_named(engine: Engine, tmp_path: Path) -> None:
    folder = tmp_path / "summaries"
    write_summaries(folder, "bad.json", summary(1, url="http://x.example.org/1", title=None, topics="cardio"))

    [message] = run_folder(engine, folder).rejected

    assert message.startswith("bad.json: summary test-001: ")
    for field in ("url: ", "title: missing (required)", "topics: "):
        assert field in message


def test_the_same_id_twice_in_one_run_keeps_the_first(engine: Engine, tmp_path: Path) -> None:
    folder = tmp_path / "summaries"
    write_summaries(folder, "a.json", [summary(1), summary(2)])
    write_summaries(folder, "b.json", [summary(1, title="A second title for the same id"), summary(3)])

    report = run_folder(engine, folder)

    assert report.new == 3
    assert report.rejected == ["b.json: summary test-001: id: already given by a.json"]
    rows = stored(engine)
    assert set(rows) == {"test-001", "test-002", "test-003"}
    assert rows["test-001"].title == "A formal title of study number 1"


def test_the_same_id_twice_in_one_file(engine: Engine, tmp_path: Path) -> None:
    folder = tmp_path / "summaries"
    write_summaries(folder, "week.json", [summary(1), summary(1, title="Again")])

    report = run_folder(engine, folder)

    assert report.new == 1
    assert report.rejected == ["week.json: summary test-001: id: already given by week.json"]
    assert stored(engine)["test-001"].title == "A formal title of study number 1"


def test_the_same_id_in_two_sources_of_one_run(engine: Engine, tmp_path: Path) -> None:
    write_summaries(tmp_path / "one", "first.json", summary(1))
    write_summaries(tmp_path / "two", "second.json", [summary(1, title="Other"), summary(2)])

    first, second = run(engine, FolderSource(tmp_path / "one"), FolderSource(tmp_path / "two"))

    assert (first.new, first.rejected) == (1, [])
    assert second.new == 1
    assert second.rejected == ["second.json: summary test-001: id: already given by first.json"]
    assert stored(engine)["test-001"].title == "A formal title of study number 1"


def test_a_file_with_a_byte_order_mark_is_accepted(engine: Engine, tmp_path: Path) -> None:
    folder = tmp_path / "summaries"
    folder.mkdir()
    content = json.dumps(summary(1, title="Vitamin D₃ — a trial"), ensure_ascii=False)
    (folder / "bom.json").write_bytes(b"\xef\xbb\xbf" + content.encode("utf-8"))

    report = run_folder(engine, folder)

    assert (report.new, report.rejected) == (1, [])
    assert stored(engine)["test-001"].title == "Vitamin D₃ — a trial"


def test_text_is_stored_as_given_and_shown_with_its_emphasis_only(engine: Engine, tmp_path: Path) -> None:
    headline = "<b>Coffee</b> & tea <script>alert('x')</script>"
    takeaway = 'Drink <a href="https://evil.example">water</a> &amp; rest.'
    folder = tmp_path / "summaries"
    write_summaries(folder, "html.json", summary(1, headline=headline, key_takeaway=takeaway))

    assert run_folder(engine, folder).new == 1

    row = stored(engine)["test-001"]
    assert (row.headline, row.key_takeaway) == (headline, takeaway)
    issue = compose_issue(engine)
    assert "Coffee & tea" in issue.text
    assert "Drink water & rest." in issue.text
    assert "<script>" not in issue.html
    assert "evil.example" not in issue.html
    assert "<b>Coffee</b> &amp; tea" in issue.html


# --- re-ingesting -------------------------------------------------------------------------------------


def test_ingesting_unchanged_files_again_changes_nothing(engine: Engine, tmp_path: Path) -> None:
    folder = tmp_path / "summaries"
    write_summaries(folder, "week.json", [summary(n) for n in range(1, 4)])
    assert run_folder(engine, folder).new == 3
    before = {key: row.model_dump() for key, row in stored(engine).items()}

    again = run_folder(engine, folder, now=LATER)

    assert (again.new, again.updated, again.unchanged, again.locked, again.rejected) == (0, 0, 3, 0, [])
    assert "0 new, 0 updated, 3 unchanged, 0 rejected" in again.line
    after = {key: row.model_dump() for key, row in stored(engine).items()}
    assert after == before
    assert {row.updated_at for row in stored(engine).values()} == {NOW}


def test_a_changed_summary_is_updated_while_unsent(engine: Engine, tmp_path: Path) -> None:
    folder = tmp_path / "summaries"
    write_summaries(folder, "week.json", [summary(1), summary(2)])
    run_folder(engine, folder)

    write_summaries(folder, "week.json", [summary(1, key_takeaway="A corrected takeaway."), summary(2)])
    report = run_folder(engine, folder, now=LATER)

    assert (report.new, report.updated, report.unchanged, report.locked) == (0, 1, 1, 0)
    rows = stored(engine)
    assert rows["test-001"].key_takeaway == "A corrected takeaway."
    assert (rows["test-001"].ingested_at, rows["test-001"].updated_at) == (NOW, LATER)
    assert rows["test-002"].updated_at == NOW


@pytest.mark.parametrize("status", [IssueStatus.draft, IssueStatus.held])
def test_an_editable_issue_holding_an_updated_summary_is_rendered_again(
    engine: Engine, tmp_path: Path, status: IssueStatus
) -> None:
    folder = tmp_path / "summaries"
    write_summaries(folder, "week.json", [summary(1), summary(2)])
    run_folder(engine, folder)
    compose_issue(engine)
    if status == IssueStatus.held:
        decide(engine, 1, IssueStatus.held)
    assert "The key takeaway of study 1." in issue_number(engine, 1).html

    corrected = summary(1, key_takeaway="A corrected takeaway.", headline="A corrected headline")
    write_summaries(folder, "week.json", [corrected, summary(2)])
    assert run_folder(engine, folder, now=LATER).updated == 1

    issue = issue_number(engine, 1)
    assert issue.status == status
    assert issue.subject == "A corrected headline, and 1 more"
    assert issue.preheader == "Also: Plain headline number 2"
    assert "A corrected takeaway." in issue.html
    assert "A corrected takeaway." in issue.html
    assert "A corrected takeaway." in issue.text
    assert "The key takeaway of study 1." not in issue.html
    assert "The key takeaway of study 2." in issue.html


def test_an_editors_subject_and_preheader_survive_an_updated_summary(engine: Engine, tmp_path: Path) -> None:
    folder = tmp_path / "summaries"
    write_summaries(folder, "week.json", [summary(1), summary(2)])
    run_folder(engine, folder)
    compose_issue(engine)
    with unit_of_work(engine) as session:
        edit_words(
            session,
            renderer(),
            1,
            subject="Our pick of the week",
            preheader="Two studies",
            note="",
            by="ed",
            now=LATER,
        )

    corrected = summary(1, key_takeaway="A corrected takeaway.", headline="A corrected headline")
    write_summaries(folder, "week.json", [corrected, summary(2)])
    assert run_folder(engine, folder, now=LATER).updated == 1

    issue = issue_number(engine, 1)
    assert (issue.subject, issue.preheader) == ("Our pick of the week", "Two studies")
    assert "A corrected takeaway." in issue.html  # the items themselves are rendered again


@pytest.mark.parametrize("status", [IssueStatus.approved, IssueStatus.sent])
def test_a_changed_summary_in_an_approved_or_sent_issue_is_kept_as_it_was(
    engine: Engine, tmp_path: Path, status: IssueStatus
) -> None:
    folder = tmp_path / "summaries"
    write_summaries(folder, "week.json", [summary(1), summary(2)])
    run_folder(engine, folder)
    compose_issue(engine)
    decide(engine, 1, IssueStatus.approved)
    if status == IssueStatus.sent:
        send(engine, 1)
    issue_before = issue_number(engine, 1)
    row_before = stored(engine)["test-001"].model_dump()

    changed = [summary(1, key_takeaway="A corrected takeaway."), summary(2), summary(3)]
    write_summaries(folder, "week.json", changed)
    report = run_folder(engine, folder, now=LATER)

    assert (report.new, report.updated, report.unchanged, report.locked) == (1, 0, 1, 1)
    assert "1 changed but already in an approved issue (kept as approved)" in report.line
    assert stored(engine)["test-001"].model_dump() == row_before
    issue = issue_number(engine, 1)
    assert issue.status == status
    assert (issue.html, issue.text) == (issue_before.html, issue_before.text)
    assert "A corrected takeaway." not in issue.html


def test_a_summary_of_a_cancelled_issue_can_be_updated(engine: Engine, tmp_path: Path) -> None:
    folder = tmp_path / "summaries"
    write_summaries(folder, "week.json", summary(1))
    run_folder(engine, folder)
    compose_issue(engine)
    decide(engine, 1, IssueStatus.cancelled)

    write_summaries(folder, "week.json", summary(1, key_takeaway="A corrected takeaway."))
    report = run_folder(engine, folder, now=LATER)

    assert (report.updated, report.locked) == (1, 0)
    assert stored(engine)["test-001"].key_takeaway == "A corrected takeaway."


@pytest.mark.usefixtures("engine")
def test_the_command_line_prints_each_rejection(digest: Digest, env: dict[str, str]) -> None:
    source = Path(env["DIGEST_SOURCES"])
    write_summaries(source, "week.json", [summary(1), summary(2, url="http://example.org/2")])

    result = digest("ingest")

    assert "1 new, 0 updated, 0 unchanged, 1 rejected" in result.stdout
    expected = "rejected: week.json: summary test-002: url: must be an https:// URL without spaces"
    assert result.stderr.strip() == expected


# --- the shipped samples ------------------------------------------------------------------------------

NOWS = [
    NOW,
    datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC),
    datetime(2027, 3, 28, 23, 59, 59, tzinfo=UTC),
    datetime(2025, 6, 15, 0, 30, tzinfo=ZoneInfo("Asia/Tokyo")),
    datetime(2026, 11, 17, 12, 0, tzinfo=ZoneInfo("America/New_York")),
]


@pytest.mark.parametrize("now", NOWS, ids=lambda now: now.isoformat())
def test_the_samples_are_a_fresh_week_of_valid_summaries(now: datetime) -> None:
    batch = SampleSource(now=now).read()

    assert (batch.error, batch.rejected) == (None, [])
    assert len(batch.summaries) == 14
    assert len({item.id for item in batch.summaries}) == 14
    for item in batch.summaries:
        assert item.published_at.tzinfo is not None
        assert now - timedelta(days=7) < item.published_at <= now, item.id
    assert max(item.published_at for item in batch.summaries) > now - timedelta(days=2)


def test_the_samples_keep_their_spacing() -> None:
    def gaps(now: datetime) -> list[timedelta]:
        dates = [item.published_at for item in SampleSource(now=now).read().summaries]
        return [later - earlier for earlier, later in itertools.pairwise(dates)]

    assert gaps(NOWS[0]) == gaps(NOWS[1]) == gaps(NOWS[2])


def test_reading_the_samples_twice_on_one_day_gives_identical_summaries() -> None:
    morning = SampleSource(now=datetime(2026, 5, 4, 0, 0, 5, tzinfo=UTC)).read()
    evening = SampleSource(now=datetime(2026, 5, 4, 23, 59, tzinfo=UTC)).read()
    next_day = SampleSource(now=datetime(2026, 5, 5, 0, 0, 5, tzinfo=UTC)).read()

    assert morning.summaries == evening.summaries
    assert [item.content_hash() for item in morning.summaries] == [
        item.content_hash() for item in evening.summaries
    ]
    assert next_day.summaries != morning.summaries


def test_ingesting_the_samples_twice_on_one_day_changes_nothing(engine: Engine) -> None:
    morning = datetime(2026, 5, 4, 6, 0, tzinfo=UTC)
    evening = datetime(2026, 5, 4, 20, 0, tzinfo=UTC)

    [first] = run(engine, SampleSource(now=morning), now=morning)
    [second] = run(engine, SampleSource(now=evening), now=evening)

    assert (first.new, first.rejected) == (14, [])
    assert (second.new, second.updated, second.unchanged, second.rejected) == (0, 0, 14, [])
    assert first.origin == "samples"
    assert {row.updated_at for row in stored(engine).values()} == {morning}
