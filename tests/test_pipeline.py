"""The pipeline step by step through the ``digest`` command line, on SQLite and PostgreSQL."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support import parts_of, read_outbox, summary, write_summaries
from tests.support.cli import Digest


def recent(hours: int) -> datetime:
    return datetime.now(UTC) - timedelta(hours=hours)


def test_step_by_step(digest: Digest, env: dict[str, str], outbox: Path) -> None:
    source = Path(env["DIGEST_SOURCES"])
    write_summaries(source, "week.json", [summary(n, published_at=recent(n)) for n in range(1, 4)])

    assert "up to date" in digest("db", "upgrade").stdout
    assert "Ada@example.org: active" in digest("subscribers", "add", "Ada@Example.org", "--confirmed").stdout
    assert "bob@example.org: pending" in digest("subscribers", "add", "bob@example.org").stdout
    assert [message["To"] for message in read_outbox(outbox / "notices")] == ["bob@example.org"]
    listing = digest("subscribers", "list").stdout
    assert "Ada@example.org\tactive" in listing
    assert "bob@example.org\tpending" in listing

    assert "3 new, 0 updated, 0 unchanged, 0 rejected" in digest("ingest").stdout
    assert "0 new, 0 updated, 3 unchanged, 0 rejected" in digest("ingest").stdout
    assert "composed issue 1 (draft)" in digest("compose").stdout
    assert "nothing new" in digest("compose").stdout

    html = digest("preview", "1").stdout
    assert "Plain headline number 1" in html
    assert "__DIGEST_" not in html
    text_file = outbox.parent / "issue-1.txt"
    digest("preview", "1", "--text", "--out", str(text_file))
    assert "Key takeaway: The key takeaway of study 2." in text_file.read_text(encoding="utf-8")

    refused = digest("send", "1", ok=False)
    assert refused.exit_code == 1
    assert refused.stderr.strip() == "error: issue 1 is draft; only an approved issue can be sent"

    assert "issue 1 is approved" in digest("approve", "1").stdout
    assert "issue 1 is held" in digest("hold", "1").stdout
    held = digest("send", ok=False)
    assert (held.exit_code, held.stderr) == (
        1,
        "error: nothing to send: issue 1 is held, not approved; approve it first: `digest approve 1`\n",
    )
    digest("approve", "1")
    assert "would send to 1 active subscribers" in digest("send", "--dry-run").stdout
    assert read_outbox(outbox / "issue-1") == []

    assert "issue 1: 1 sent, 0 failed, 0 skipped of 1" in digest("send").stdout
    messages = read_outbox(outbox / "issue-1")
    assert [message["To"] for message in messages] == ["Ada@example.org"]
    plain, _ = parts_of(messages[0])
    assert "Plain headline number 3" in plain

    assert "nothing to send" in digest("send").stdout
    assert len(read_outbox(outbox / "issue-1")) == 1
    status = digest("status").stdout
    assert "pending 1, active 1" in status
    assert "last send: issue 1 (sent): pending 0, sending 0, sent 1, failed 0, skipped 0" in status
    assert "next scheduled compose+send (0 7 * * mon, UTC): Mon " in status


@pytest.mark.usefixtures("engine")
def test_run_composes_once_per_period_and_sends(digest: Digest, env: dict[str, str], outbox: Path) -> None:
    env["DIGEST_SCHEDULE"] = "* * * * *"
    write_summaries(Path(env["DIGEST_SOURCES"]), "one.json", summary(1, published_at=recent(2)))
    digest("subscribers", "add", "ada@example.org", "--confirmed")

    first = digest("run").stdout
    assert "1 new" in first
    assert "compose: issue 1 for the period of" in first
    assert "approved issue 1 (review window over)" in first
    assert "issue 1: 1 sent" in first

    again = digest("run").stdout
    assert "compose: issue" not in again
    assert "sent" not in again
    assert len(read_outbox(outbox)) == 1


@pytest.mark.usefixtures("engine")
def test_review_window_keeps_the_issue_for_editors(digest: Digest, env: dict[str, str], outbox: Path) -> None:
    env["DIGEST_SCHEDULE"] = "* * * * *"
    env["DIGEST_REVIEW_WINDOW"] = "1h"
    write_summaries(Path(env["DIGEST_SOURCES"]), "one.json", summary(1, published_at=recent(2)))
    digest("subscribers", "add", "ada@example.org", "--confirmed")

    output = digest("run").stdout
    assert "compose: issue 1" in output
    assert "approved" not in output
    assert read_outbox(outbox) == []
    assert "last issue: 1 (draft)" in digest("status").stdout
