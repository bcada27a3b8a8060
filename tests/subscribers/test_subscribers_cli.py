"""``digest subscribers import/export/erase`` from the shell, on SQLite and PostgreSQL.

Imports keep good rows and report bad ones by line number; imported addresses are pending with a
confirmation each, or active (nothing sent) when the operator says where consent was given. Export
prints what the preferences page offers; erase does what its erasure does.
"""

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.support import parts_of, read_outbox
from tests.support.cli import Digest
from tests.support.web import (
    is_suppressed,
    link_in,
    notices,
    path_of,
    state_of,
    stored_emails,
    subject_has,
    subscribe_form,
    subscriber,
)


def csv_file(tmp_path: Path, text: str, name: str = "people.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def listing(digest: Digest) -> dict[str, str]:
    rows = [line.split("\t") for line in digest("subscribers", "list").stdout.splitlines()]
    return {email: state for email, state, _topics in rows}


def test_add_without_confirmed_sends_the_confirmation(
    digest: Digest, engine: Engine, outbox: Path, client: TestClient
) -> None:
    added = digest("subscribers", "add", "bob@example.org")
    assert added.stdout.splitlines() == [
        "bob@example.org: pending; topics: everything",
        "sent a confirmation to bob@example.org: active once they follow its link",
    ]
    (confirmation,) = notices(outbox, "bob@example.org")
    assert subject_has(confirmation, "confirm your subscription")

    # Added again within the resend window: said so, and nobody is mailed twice.
    again = digest("subscribers", "add", "bob@example.org")
    assert again.stdout.splitlines()[1] == (
        "a confirmation went to bob@example.org less than 10m ago: not sent again"
    )
    assert len(notices(outbox, "bob@example.org")) == 1

    assert client.post(path_of(link_in(confirmation, "confirm"))).status_code == 200
    assert state_of(engine, "bob@example.org") == "active"


def test_import_keeps_good_rows_pending_and_reports_bad_ones_by_line(
    digest: Digest, engine: Engine, outbox: Path, tmp_path: Path, client: TestClient
) -> None:
    people = csv_file(
        tmp_path,
        "name,email\nAda,ada@example.org\nBob,not-an-address\nCy,Cy@Example.ORG\nDee,\nEve,eve@example.org\n",
    )
    result = digest("subscribers", "import", str(people))
    assert result.exit_code == 0
    assert "imported 3 address(es) (3 pending, confirmation sent); 2 row(s) skipped" in result.stdout
    problems = result.stderr.strip().splitlines()
    assert len(problems) == 2
    assert problems[0].startswith("skipped line 3: ")
    assert "not-an-address" in problems[0]
    assert problems[1].startswith("skipped line 5: ")

    assert listing(digest) == {
        "ada@example.org": "pending",
        "Cy@example.org": "pending",
        "eve@example.org": "pending",
    }
    sent = notices(outbox)
    assert sorted(str(message["To"]) for message in sent) == [
        "Cy@example.org",
        "ada@example.org",
        "eve@example.org",
    ]
    for message in sent:
        assert subject_has(message, "confirm your subscription")
        parts_of(message)
    ada = subscriber(engine, "ada@example.org")
    assert ada is not None
    assert ada.consent_form == "import: people.csv"

    # The imported address confirms like any other, through the web app.
    (to_ada,) = notices(outbox, "ada@example.org")
    assert client.post(path_of(link_in(to_ada, "confirm"))).status_code == 200
    assert state_of(engine, "ada@example.org") == "active"


def on_a_terminal(command: list[str], env: dict[str, str], cwd: Path) -> str:
    """What ``command`` shows on a terminal (a pseudo-terminal here), as a user would see it."""
    leader, follower = pty.openpty()
    with subprocess.Popen(
        command, env={**os.environ, **env}, cwd=cwd, stdin=follower, stdout=follower, stderr=follower
    ) as process:
        os.close(follower)
        shown = bytearray()
        while chunk := read_some(leader):
            shown += chunk
        assert process.wait(timeout=120) == 0, shown.decode(errors="replace")
    os.close(leader)
    return shown.decode(errors="replace")


def read_some(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except OSError:  # the other end closed: Linux answers EIO
        return b""


@pytest.mark.usefixtures("engine")
def test_import_shows_a_progress_bar_on_a_terminal(
    digest: Digest, env: dict[str, str], outbox: Path, tmp_path: Path
) -> None:
    people = csv_file(tmp_path, "email\n" + "".join(f"reader{n}@example.org\n" for n in range(300)))
    shown = on_a_terminal(
        [sys.executable, "-m", "digest", "subscribers", "import", str(people)], env, tmp_path
    )
    assert "importing" in shown
    assert "/300" in shown  # done of total, as a send's bar shows
    assert "sending confirmations" in shown
    assert "imported 300 address(es) (300 pending, confirmation sent); 0 row(s) skipped" in shown
    assert len(notices(outbox)) == 300


def test_import_without_header_reads_the_first_column_and_never_downgrades(
    digest: Digest, engine: Engine, outbox: Path, tmp_path: Path
) -> None:
    digest("subscribers", "add", "active@example.org", "--confirmed")
    people = csv_file(tmp_path, "active@example.org,Active\nnew@example.org,New\n@bad,Bad\n")
    result = digest("subscribers", "import", str(people))
    assert "imported 2 address(es)" in result.stdout
    assert result.stderr.strip().startswith("skipped line 3: ")
    assert state_of(engine, "active@example.org") == "active"
    assert state_of(engine, "new@example.org") == "pending"
    assert [str(message["To"]) for message in notices(outbox) if subject_has(message, "confirm")] == [
        "new@example.org"
    ]

    # Importing the same file again within the resend window mails no one a second confirmation.
    digest("subscribers", "import", str(people))
    assert len([message for message in notices(outbox) if subject_has(message, "confirm")]) == 1


def test_import_confirmed_with_consent_source_sends_nothing(
    digest: Digest, engine: Engine, outbox: Path, tmp_path: Path
) -> None:
    people = csv_file(tmp_path, "email\nada@example.org\nbob@example.org\n")
    result = digest(
        "subscribers", "import", str(people), "--confirmed", "--consent-source", "paper form, 3 May 2026"
    )
    assert "imported 2 address(es) (2 active); 0 row(s) skipped" in result.stdout
    assert listing(digest) == {"ada@example.org": "active", "bob@example.org": "active"}
    assert read_outbox(outbox) == []
    exported = json.loads(digest("subscribers", "export", "ada@example.org").stdout)
    assert exported["state"] == "active"
    assert exported["confirmed_at"]
    assert exported["consent"]["form"] == "import: paper form, 3 May 2026"
    assert exported["consent"]["at"]


def test_confirmed_needs_a_consent_source(
    digest: Digest, engine: Engine, outbox: Path, tmp_path: Path
) -> None:
    people = csv_file(tmp_path, "email\nada@example.org\n")
    for flags in (["--confirmed"], ["--consent-source", "somewhere"]):
        refused = digest("subscribers", "import", str(people), *flags, ok=False)
        assert refused.exit_code == 1
        assert refused.stderr.strip() == (
            "error: --confirmed and --consent-source go together: say where the consent was given"
        )
    assert listing(digest) == {}
    assert read_outbox(outbox) == []


def test_import_of_a_missing_file_fails_with_one_line(digest: Digest, engine: Engine, tmp_path: Path) -> None:
    refused = digest("subscribers", "import", str(tmp_path / "nowhere.csv"), ok=False)
    assert refused.exit_code == 1
    assert refused.stderr.startswith("error: cannot read ")
    assert len(refused.stderr.strip().splitlines()) == 1


def test_export_prints_the_subscribers_data_as_json(
    digest: Digest, engine: Engine, client: TestClient, outbox: Path
) -> None:
    subscribe_form(client, "Ada@Example.org")
    exported = json.loads(digest("subscribers", "export", "ADA@example.org").stdout)
    assert exported["email"] == "Ada@example.org"
    assert exported["state"] == "pending"
    assert exported["consent"]["form"] == "web form"
    assert exported["consent"]["ip"] == "testclient"
    assert exported["consent"]["user_agent"] == "testclient"
    assert exported["consent"]["consent_text_version"]
    assert exported["deliveries"] == []

    # The same as the preferences page's download.
    (confirmation,) = notices(outbox)
    client.post(path_of(link_in(confirmation, "confirm")))
    (welcome,) = [message for message in notices(outbox) if subject_has(message, "welcome")]
    download = client.get(path_of(link_in(welcome, "preferences")) + "/data").json()
    assert download == json.loads(digest("subscribers", "export", "ada@example.org").stdout)

    unknown = digest("subscribers", "export", "nobody@example.org", ok=False)
    assert unknown.exit_code == 1
    assert unknown.stderr.strip() == "error: no subscriber has the address nobody@example.org"


def test_erase_forgets_the_address_and_keeps_it_suppressed(
    digest: Digest, engine: Engine, outbox: Path, tmp_path: Path, client: TestClient
) -> None:
    digest("subscribers", "add", "Ada@Example.org", "--confirmed")
    result = digest("subscribers", "erase", "ada@example.org")
    assert "erased ada@example.org" in result.stdout
    assert subscriber(engine, "ada@example.org") is None
    assert not any("ada" in email.casefold() for email in stored_emails(engine))
    assert is_suppressed(engine, "ADA@example.org")
    assert "ada" not in digest("subscribers", "list").stdout.casefold()
    assert digest("subscribers", "export", "ada@example.org", ok=False).exit_code == 1
    assert digest("subscribers", "erase", "ada@example.org", ok=False).exit_code == 1

    for flags in (["--confirmed"], []):
        added = digest("subscribers", "add", "ada@example.org", *flags, ok=False)
        assert added.exit_code == 1
        assert "erased" in added.stderr

    # Nor does an import bring it back, or mail it: only the owner signing up again can.
    people = csv_file(tmp_path, "email\nada@example.org\nbob@example.org\n")
    confirmed = digest("subscribers", "import", str(people), "--confirmed", "--consent-source", "crm")
    assert confirmed.stderr.strip().startswith("skipped line 2: ")
    pending = digest("subscribers", "import", str(people))
    assert pending.stderr.strip().startswith("skipped line 2: ")
    assert "erased" in pending.stderr
    assert subscriber(engine, "ada@example.org") is None
    assert notices(outbox, "ada@example.org") == []

    subscribe_form(client, "ada@example.org")
    (confirmation,) = notices(outbox, "ada@example.org")
    assert client.post(path_of(link_in(confirmation, "confirm"))).status_code == 200
    assert state_of(engine, "ada@example.org") == "active"
    assert not is_suppressed(engine, "ada@example.org")
