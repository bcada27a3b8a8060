"""``POST /api/summaries`` with an editor's API token, and ``digest editors token NAME``."""

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from digest.db.models import IssueStatus
from digest.sources.folder import FolderSource
from digest.tokens import ApiTokens, Purpose, Tokens
from digest.wiring import Parts
from tests.support import summary, write_summaries
from tests.support.cli import Digest
from tests.support.sources import compose_issue, decide, issue_number, run, stored

HASH = "$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHRzb21lc2FsdA$RdescudvJCsgt3ub+b+dWRWJTmaaJObGVh8gdX8Gkd4"
OTHER_HASH = (
    "$argon2id$v=19$m=65536,t=3,p=4$b3RoZXJzYWx0b3RoZXJzYWx0$9sTbSlTio3Biev89thdrlKKiCaYsjjYVJxGAL3swxpg"
)
EDITORS = f"ada:{HASH}, bob:{OTHER_HASH}"


@pytest.fixture
def web_env(web_env: dict[str, str]) -> dict[str, str]:
    return {**web_env, "DIGEST_EDITORS": EDITORS}


@pytest.fixture
def token(parts: Parts) -> str:
    return parts.api_tokens.issue("ada")


def push(client: TestClient, body: Any, token: str | None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(
        "/api/summaries", content=content, headers={**headers, "Content-Type": "application/json"}
    )


# --- tokens -----------------------------------------------------------------------------------------------


def test_the_command_line_issues_a_token_that_the_api_takes(
    digest: Digest, env: dict[str, str], client: TestClient, engine: Engine
) -> None:
    digest.env = {**env, "DIGEST_EDITORS": EDITORS}

    token = digest("editors", "token", "ada").stdout.strip()
    unknown = digest("editors", "token", "eve", ok=False)

    assert push(client, summary(1), token).status_code == 200
    assert unknown.exit_code == 1
    assert (
        unknown.stderr.strip()
        == "error: 'eve' is not an editor: add name:argon2-hash to DIGEST_EDITORS first"
    )


def test_a_malformed_editors_setting_is_a_one_line_error(digest: Digest, env: dict[str, str]) -> None:
    digest.env = {**env, "DIGEST_EDITORS": "ada:hunter2"}

    result = digest("editors", "token", "ada", ok=False)

    assert result.exit_code == 1
    assert result.stderr.startswith("error: bad setting: DIGEST_EDITORS: expected name:argon2-hash pairs")


def forged_tokens(keys: list[str]) -> dict[str, str | None]:
    return {
        "none": None,
        "garbage": "not-a-token",
        "another key": ApiTokens(["another-key"], {"ada": HASH}).issue("ada"),
        "before a password change": ApiTokens(keys, {"ada": OTHER_HASH}).issue("ada"),
        "an editor no longer listed": ApiTokens(keys, {"carol": HASH}).issue("carol"),
        "an unsubscribe link's token": Tokens(keys).sign(Purpose.unsubscribe, 1, "abc"),
    }


def test_a_missing_forged_or_revoked_token_is_refused(
    client: TestClient, parts: Parts, engine: Engine
) -> None:
    answers = {
        name: push(client, summary(1), token)
        for name, token in forged_tokens(parts.settings.signing_keys).items()
    }
    basic = client.post(
        "/api/summaries", json=summary(1), headers={"Authorization": "Basic YWRhOmh1bnRlcjI="}
    )

    assert {name: answer.status_code for name, answer in answers.items()} == dict.fromkeys(answers, 401)
    assert basic.status_code == 401
    assert answers["none"].headers["www-authenticate"] == 'Bearer realm="digest"'
    assert stored(engine) == {}


# --- what a push does ---------------------------------------------------------------------------------------


def test_one_summary_goes_in_and_again_changes_nothing(
    client: TestClient, engine: Engine, token: str
) -> None:
    first = push(client, summary(1), token)
    again = push(client, summary(1), token)
    changed = push(client, summary(1, title="A corrected title"), token)

    assert first.status_code == 200
    assert first.json() == {"results": [{"index": 0, "id": "test-001", "status": "new"}], "accepted": 1}
    assert again.json()["results"] == [{"index": 0, "id": "test-001", "status": "unchanged"}]
    assert changed.json()["results"] == [{"index": 0, "id": "test-001", "status": "updated"}]
    row = stored(engine)["test-001"]
    assert (row.origin, row.title) == ("api", "A corrected title")


def test_a_list_gets_a_result_per_item_in_order(
    client: TestClient, engine: Engine, token: str, tmp_path: Path
) -> None:
    write_summaries(tmp_path / "folder", "week.json", summary(9))
    run(engine, FolderSource(tmp_path / "folder"))
    items: list[Any] = [
        summary(1, headline="<b>Bold</b> <script>alert(1)</script>"),
        summary(2, key_takeaway=None, url="http://insecure.example.org"),
        summary(1, title="The same id again"),
        "not an object",
        summary(9),
        summary(3),
    ]

    answer = push(client, items, token)

    assert answer.status_code == 200
    assert answer.json() == {
        "accepted": 2,
        "results": [
            {"index": 0, "id": "test-001", "status": "new"},
            {
                "index": 1,
                "id": "test-002",
                "status": "rejected",
                "problems": [
                    {"field": "url", "reason": "must be an https:// URL without spaces"},
                    {"field": "key_takeaway", "reason": "missing (required)"},
                ],
            },
            {
                "index": 2,
                "id": "test-001",
                "status": "rejected",
                "problems": [{"field": "id", "reason": "already given by item 0 of this request"}],
            },
            {
                "index": 3,
                "id": None,
                "status": "rejected",
                "problems": [{"field": "(summary)", "reason": "expected a JSON object, got str"}],
            },
            {
                "index": 4,
                "id": "test-009",
                "status": "rejected",
                "problems": [{"field": "id", "reason": f"already given by {tmp_path / 'folder'}"}],
            },
            {"index": 5, "id": "test-003", "status": "new"},
        ],
    }
    assert stored(engine)["test-001"].headline == "<b>Bold</b> <script>alert(1)</script>"
    assert stored(engine)["test-009"].origin == str(tmp_path / "folder")


def test_a_summary_in_an_approved_issue_is_kept_as_approved(
    client: TestClient, engine: Engine, token: str
) -> None:
    push(client, [summary(1), summary(2)], token)
    issue = compose_issue(engine)
    decide(engine, issue.number, IssueStatus.approved)

    answer = push(client, summary(1, key_takeaway="Too late."), token)

    assert answer.json()["results"] == [{"index": 0, "id": "test-001", "status": "locked"}]
    assert stored(engine)["test-001"].key_takeaway == "The key takeaway of study 1."


def test_a_pushed_correction_rerenders_a_draft_that_holds_it(
    client: TestClient, engine: Engine, token: str
) -> None:
    push(client, [summary(1), summary(2)], token)
    compose_issue(engine)

    push(client, summary(1, key_takeaway="A corrected takeaway."), token)

    assert "A corrected takeaway." in issue_number(engine, 1).html


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_a_date_beyond_the_calendar_in_utc_is_rejected_alone(
    client: TestClient, engine: Engine, token: str, moment: str
) -> None:
    answer = push(client, [summary(1), summary(2) | {"published_at": moment}], token)

    assert answer.status_code == 200
    assert answer.json()["results"] == [
        {"index": 0, "id": "test-001", "status": "new"},
        {
            "index": 1,
            "id": "test-002",
            "status": "rejected",
            "problems": [
                {"field": "published_at", "reason": "must fall within the years 1 to 9999 once moved to UTC"}
            ],
        },
    ]
    assert set(stored(engine)) == {"test-001"}


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        (b"{not json", 400, "the body is not JSON"),
        (b"[]", 400, "send between 1 and 500 summaries at once, not 0"),
        (json.dumps([summary(1)] * 501).encode(), 400, "send between 1 and 500 summaries at once, not 501"),
        (b"[" + b" " * 5_000_001 + b"]", 413, "the body is larger than 5,000,000 bytes"),
    ],
)
def test_bodies_that_are_not_a_summary_or_a_list(
    client: TestClient, token: str, body: bytes, status: int, error: str
) -> None:
    answer = push(client, body, token)

    assert answer.status_code == status
    assert answer.json()["error"].startswith(error)


def test_every_item_rejected_is_unprocessable(client: TestClient, token: str) -> None:
    answer = push(client, [summary(1, title=None), 42], token)

    assert answer.status_code == 422
    assert answer.json()["accepted"] == 0
    assert [result["status"] for result in answer.json()["results"]] == ["rejected", "rejected"]
