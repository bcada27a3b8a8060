"""Readers' time zones, on SQLite and PostgreSQL: set from the shell (``subscribers add --timezone``, an
import's ``timezone`` column), chosen on the preferences page, part of the data export; an unknown zone is
refused with its name and nothing else changes."""

import csv
import io
import json
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.support.cli import Digest
from tests.support.web import confirmed, link_in, path_of, preferences_action, subscriber


def zone_of(engine: Engine, email: str) -> str | None:
    found = subscriber(engine, email)
    assert found is not None
    return found.timezone


def test_add_with_a_time_zone_and_a_wrong_one(digest: Digest, engine: Engine) -> None:
    added = digest("subscribers", "add", "ada@example.org", "--confirmed", "--timezone", "Asia/Kathmandu")
    assert added.stdout.strip() == "ada@example.org: active; topics: everything; time zone: Asia/Kathmandu"
    assert zone_of(engine, "ada@example.org") == "Asia/Kathmandu"

    wrong = digest("subscribers", "add", "bob@example.org", "--timezone", "Mars/Olympus_Mons", ok=False)
    assert wrong.exit_code != 0
    assert "unknown time zone 'Mars/Olympus_Mons'" in wrong.stderr
    assert subscriber(engine, "bob@example.org") is None  # nothing added

    # Ops correct an active reader's zone the same way; their state stays.
    digest("subscribers", "add", "ada@example.org", "--timezone", "America/St_Johns")
    assert zone_of(engine, "ada@example.org") == "America/St_Johns"


def test_import_reads_a_timezone_column_and_export_writes_it(
    digest: Digest, engine: Engine, tmp_path: Path
) -> None:
    file = tmp_path / "list.csv"
    file.write_text(
        "email,timezone\nkiri@example.org,Pacific/Kiritimati\nnone@example.org,\n"
        "bad@example.org,Europe/Atlantis\npago@example.org,Pacific/Pago_Pago\n",
        encoding="utf-8",
    )
    imported = digest("subscribers", "import", str(file), "--confirmed", "--consent-source", "old list")
    assert "imported 3 address(es)" in imported.stdout
    assert "skipped line 4: unknown time zone 'Europe/Atlantis'" in imported.stderr
    assert zone_of(engine, "kiri@example.org") == "Pacific/Kiritimati"
    assert zone_of(engine, "none@example.org") is None
    assert subscriber(engine, "bad@example.org") is None

    rows = list(
        csv.DictReader(io.StringIO(digest("subscribers", "export", "--all", "--format", "csv").stdout))
    )
    assert {row["email"]: row["timezone"] for row in rows} == {
        "kiri@example.org": "Pacific/Kiritimati",
        "none@example.org": "",
        "pago@example.org": "Pacific/Pago_Pago",
    }
    # What is exported comes back in as it was.
    again = tmp_path / "again.csv"
    again.write_text(digest("subscribers", "export", "--all", "--format", "csv").stdout, encoding="utf-8")
    digest("subscribers", "erase", "pago@example.org")
    digest("subscribers", "import", str(again), "--confirmed", "--consent-source", "export")
    assert zone_of(engine, "kiri@example.org") == "Pacific/Kiritimati"


def test_preferences_page_sets_checks_and_clears_the_zone(
    client: TestClient, engine: Engine, outbox: Path, digest: Digest
) -> None:
    welcome = confirmed(client, outbox, "ann@example.org")
    path = path_of(link_in(welcome, "preferences"))
    page = client.get(path)
    assert 'list="zones"' in page.text
    assert '<option value="America/St_Johns">' in page.text
    assert "UTC (the publisher's)" in page.text  # the catalogue's words, as written

    saved = preferences_action(client, path, "timezone", timezone=" Asia/Kathmandu ")
    assert saved.status_code == 200
    assert "Saved. The digest reaches you by the time in Asia/Kathmandu." in saved.text
    assert zone_of(engine, "ann@example.org") == "Asia/Kathmandu"

    wrong = preferences_action(client, path, "timezone", timezone="Kathmandu<script>")
    assert wrong.status_code == 400
    assert "Nothing was saved: unknown time zone &#39;Kathmandu&lt;script&gt;&#39;" in wrong.text
    assert zone_of(engine, "ann@example.org") == "Asia/Kathmandu"

    data = json.loads(client.get(f"{path}/data").text)
    assert data["timezone"] == "Asia/Kathmandu"
    exported = json.loads(digest("subscribers", "export", "ann@example.org").stdout)
    assert exported["timezone"] == "Asia/Kathmandu"

    cleared = preferences_action(client, path, "timezone", timezone="")
    assert "by the publisher&#39;s time zone, UTC" in cleared.text
    assert zone_of(engine, "ann@example.org") is None
