"""``digest send N --newcomers`` on SQLite and PostgreSQL: an issue that went out, sent after new
confirmations to those who became active since, and never again to anyone who has it."""

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.support.cli import Digest
from tests.support.sending import issue_status, statuses
from tests.support.web import confirmed, digests, draft_issue, send_issue, subscribe_form


def test_newcomers_get_the_issue_once_and_nobody_else_again(
    digest: Digest, engine: Engine, env: dict[str, str], client: TestClient, outbox: Path
) -> None:
    for address in ("ada@example.org", "bob@example.org"):
        digest("subscribers", "add", address, "--confirmed")
    assert subscribe_form(client, "late@example.org").status_code == 200  # pending when it goes out
    number = send_issue(digest, env)
    assert statuses(engine, number) == {"ada@example.org": "sent", "bob@example.org": "sent"}
    nothing = digest("send", str(number), "--newcomers")
    assert (
        nothing.stdout.strip() == f"issue {number}: nobody became active since it went out; nothing to send"
    )

    confirmed(client, outbox, "new@example.org")
    digest("subscribers", "add", "cli@example.org", "--confirmed")
    digest("subscribers", "add", "ada@example.org", "--confirmed")  # already has it
    sent = digest("send", str(number), "--newcomers").stdout
    assert sent.splitlines()[0] == f"issue {number}: 2 newcomers added"
    assert "2 sent" in sent
    assert issue_status(engine, number) == "sent"
    for address in ("ada@example.org", "bob@example.org", "new@example.org", "cli@example.org"):
        assert len(digests(outbox, address)) == 1, address
    assert digests(outbox, "late@example.org") == []  # still pending: not a reader yet

    again = digest("send", str(number), "--newcomers")
    assert "nobody became active since" in again.stdout
    assert len(digests(outbox, "new@example.org")) == 1

    draft = draft_issue(digest, env, first=10)
    refused = digest("send", str(draft), "--newcomers", ok=False)
    assert f"issue {draft} is draft: only an issue that went out has newcomers" in refused.stderr
