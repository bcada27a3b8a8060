"""Moving a list in from another service and out again, from the shell, on SQLite and PostgreSQL.

The sample files follow each service's documented export columns; the rows are made up here. What a
publisher checks: nobody who had left the old list is active afterwards, the opt-in time and IP are
kept, the header is never a subscriber, any delimiter and encoding reads, and the export reads back.
"""

import csv
import io
import json
from pathlib import Path

import pytest

from tests.support import read_outbox
from tests.support.cli import Digest

MAILCHIMP_COLUMNS = (
    '"Email Address","First Name","Last Name",MEMBER_RATING,OPTIN_TIME,OPTIN_IP,CONFIRM_TIME,CONFIRM_IP,'
    "LATITUDE,LONGITUDE,GMTOFF,DSTOFF,TIMEZONE,CC,REGION,LAST_CHANGED,LEID,EUID,NOTES,TAGS"
)


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def exported(digest: Digest) -> dict[str, dict[str, object]]:
    lines = digest("subscribers", "export", "--all").stdout.splitlines()
    return {record["email"]: record for record in map(json.loads, lines)}


def states(digest: Digest) -> dict[str, object]:
    return {email: record["state"] for email, record in exported(digest).items()}


@pytest.mark.usefixtures("engine")
def test_a_mailchimp_export_keeps_the_opt_in_and_never_brings_back_who_left(
    digest: Digest, env: dict[str, str], tmp_path: Path, outbox: Path
) -> None:
    env["DIGEST_TOPICS"] = "Cardiology,Oncology"
    subscribed = write(
        tmp_path,
        "subscribed_members_export_1a2b.csv",
        MAILCHIMP_COLUMNS
        + "\nada@example.org,Ada,L,4,2024-03-01 10:00:00,203.0.113.7,2024-03-01 10:05:00,203.0.113.8,,,,,,,,"
        + '2024-03-01 10:05:00,111,aaa,,"Cardiology","Members only"\n'
        + "bob@example.org,Bob,K,2,,,,,,,,,,,,2024-04-01 09:00:00,112,bbb,,\n",
    )
    left = write(
        tmp_path,
        "unsubscribed_members_export_1a2b.csv",
        MAILCHIMP_COLUMNS
        + ",UNSUB_TIME,UNSUB_CAMPAIGN_TITLE,UNSUB_CAMPAIGN_ID,UNSUB_REASON,UNSUB_REASON_OTHER\n"
        + "cy@example.org,Cy,M,1,2023-01-01 08:00:00,198.51.100.2,,,,,,,,,,2024-05-01 12:00:00,113,ccc,,,"
        + "2024-05-01 12:00:00,Week 18,abc,NORMAL,\n",
    )
    cleaned = write(
        tmp_path,
        "cleaned_members_export_1a2b.csv",
        MAILCHIMP_COLUMNS
        + ",CLEAN_TIME,CLEAN_CAMPAIGN_TITLE,CLEAN_CAMPAIGN_ID\n"
        + "dee@example.org,Dee,N,1,,,,,,,,,,,,2024-06-01 12:00:00,114,ddd,,,"
        + "2024-06-01 12:00:00,Week 22,abd\n",
    )

    for path in (subscribed, left, cleaned):
        result = digest("subscribers", "import", str(path), "--confirmed", "--consent-source", "Mailchimp")
        assert result.stdout.startswith("mailchimp file: imported ")

    records = exported(digest)
    assert {email: record["state"] for email, record in records.items()} == {
        "ada@example.org": "active",
        "bob@example.org": "active",
        "cy@example.org": "unsubscribed",
        "dee@example.org": "bounced",
    }
    ada = records["ada@example.org"]
    assert (ada["consent_at"], ada["consent_ip"]) == ("2024-03-01T10:05:00+00:00", "203.0.113.8")
    assert ada["consent_form"] == "import from mailchimp: Mailchimp"
    assert ada["topics"] == ["cardiology"]  # "Members only" is Mailchimp's own tag, not a topic here
    assert records["cy@example.org"]["consent_ip"] == "198.51.100.2"
    assert read_outbox(outbox) == []  # proven consent: nobody is asked to confirm


@pytest.mark.usefixtures("engine")
def test_buttondown_statuses_map_to_states_and_the_unconfirmed_must_confirm(
    digest: Digest, tmp_path: Path, outbox: Path
) -> None:
    export = write(
        tmp_path,
        "buttondown.csv",
        "id,email,creation_date,notes,tags,metadata,subscriber_type,source,ip_address\n"
        "1,ann@example.org,2025-02-01T09:00:00Z,,,{},regular,embed,192.0.2.1\n"
        "2,ben@example.org,2025-02-02T09:00:00Z,,,{},unsubscribed,api,\n"
        "3,cat@example.org,2025-02-03T09:00:00Z,,,{},unactivated,embed,\n"
        "4,dan@example.org,2025-02-04T09:00:00Z,,,{},undeliverable,import,\n"
        "5,eve@example.org,2025-02-05T09:00:00Z,,,{},removed,embed,\n",
    )

    result = digest("subscribers", "import", str(export), "--confirmed", "--consent-source", "Buttondown")

    assert "imported 5 address(es)" in result.stdout
    assert states(digest) == {
        "ann@example.org": "active",
        "ben@example.org": "unsubscribed",
        "cat@example.org": "pending",
        "dan@example.org": "bounced",
        "eve@example.org": "unsubscribed",
    }
    assert [message["To"] for message in read_outbox(outbox)] == ["cat@example.org"]
    ann = exported(digest)["ann@example.org"]
    assert ann["consent_form"] == "import from buttondown: Buttondown (source: embed)"
    assert (ann["consent_at"], ann["consent_ip"]) == ("2025-02-01T09:00:00+00:00", "192.0.2.1")


@pytest.mark.usefixtures("engine")
def test_a_semicolon_substack_file_with_a_byte_order_mark_reads(digest: Digest, tmp_path: Path) -> None:
    export = write(
        tmp_path,
        "substack.csv",
        "\ufeffemail;active_subscription;expiry;plan;email_disabled;created_at\n"
        "fay@example.org;false;;;false;2025-01-01T00:00:00.000Z\n"
        "gus@example.org;false;;;true;2025-01-02T00:00:00.000Z\n",
    )

    result = digest("subscribers", "import", str(export), "--confirmed", "--consent-source", "Substack")

    assert result.stdout.startswith("substack file: imported 2 address(es)")
    assert states(digest) == {"fay@example.org": "active", "gus@example.org": "unsubscribed"}


@pytest.mark.usefixtures("engine")
def test_a_utf16_tab_separated_file_from_excel_reads(digest: Digest, tmp_path: Path) -> None:
    export = write(tmp_path, "people.txt", "email\ttopics\nzoë@example.org\t\n", encoding="utf-16")

    result = digest("subscribers", "import", str(export), "--confirmed", "--consent-source", "paper")

    assert "imported 1 address(es) (1 active)" in result.stdout
    assert states(digest) == {"zoë@example.org": "active"}


@pytest.mark.usefixtures("engine")
def test_ghost_and_listmonk_readers_who_turned_emails_off_stay_out(digest: Digest, tmp_path: Path) -> None:
    ghost = write(
        tmp_path,
        "ghost.csv",
        "id,email,name,note,subscribed_to_emails,complimentary_plan,stripe_customer_id,created_at,"
        "deleted_at,labels,tiers\n"
        "g1,hal@example.org,Hal,,true,false,,2025-03-01T00:00:00.000Z,,,\n"
        "g2,ivy@example.org,Ivy,,false,false,,2025-03-02T00:00:00.000Z,,,\n",
    )
    listmonk = write(
        tmp_path,
        "listmonk.csv",
        "uuid,email,name,attributes,status,created_at,updated_at\n"
        "u1,jon@example.org,Jon,{},enabled,2025-04-01 00:00:00+00,2025-04-01 00:00:00+00\n"
        "u2,kim@example.org,Kim,{},blocklisted,2025-04-02 00:00:00+00,2025-04-02 00:00:00+00\n",
    )

    for path in (ghost, listmonk):
        digest("subscribers", "import", str(path), "--confirmed", "--consent-source", "moved")

    assert states(digest) == {
        "hal@example.org": "active",
        "ivy@example.org": "unsubscribed",
        "jon@example.org": "active",
        "kim@example.org": "unsubscribed",
    }


@pytest.mark.usefixtures("engine")
def test_a_reader_active_here_who_left_the_old_list_is_not_active_after(
    digest: Digest, tmp_path: Path
) -> None:
    digest("subscribers", "add", "lee@example.org", "--confirmed")
    export = write(
        tmp_path,
        "buttondown.csv",
        "email,subscriber_type,creation_date\nLEE@example.org,unsubscribed,2025-02-01T09:00:00Z\n",
    )

    digest("subscribers", "import", str(export), "--confirmed", "--consent-source", "Buttondown")

    assert states(digest) == {"lee@example.org": "unsubscribed"}


@pytest.mark.usefixtures("engine")
def test_the_same_address_twice_in_any_case_counts_once(digest: Digest, tmp_path: Path) -> None:
    people = write(tmp_path, "people.csv", "email\nmia@example.org\nMIA@Example.org\nned@example.org\n")

    result = digest("subscribers", "import", str(people), "--confirmed", "--consent-source", "paper")

    assert "imported 2 address(es) (2 active, 1 duplicate in the file)" in result.stdout
    assert len(exported(digest)) == 2


@pytest.mark.usefixtures("engine")
def test_a_dry_run_says_what_each_row_would_become_and_changes_nothing(
    digest: Digest, tmp_path: Path, outbox: Path
) -> None:
    export = write(
        tmp_path,
        "buttondown.csv",
        "email,subscriber_type\noli@example.org,regular\npia@example.org,unsubscribed\nnot-an-address,regular\n",
    )

    result = digest("subscribers", "import", str(export), "--dry-run")

    assert result.stdout.splitlines() == [
        "line 2: oli@example.org -> pending, confirmation sent",
        "line 3: pia@example.org -> unsubscribed",
        "buttondown file: would import 2 address(es) (1 pending, confirmation sent, 1 unsubscribed); "
        "1 row(s) skipped",
    ]
    assert "skipped line 4: not a valid email address: 'not-an-address'" in result.stderr
    assert exported(digest) == {}
    assert read_outbox(outbox) == []


@pytest.mark.usefixtures("engine")
def test_a_file_that_says_it_is_from_a_service_but_is_not_is_named(digest: Digest, tmp_path: Path) -> None:
    people = write(tmp_path, "people.csv", "address\nqin@example.org\n")

    result = digest("subscribers", "import", str(people), "--from", "mailchimp", ok=False)

    assert result.exit_code == 1
    assert "people.csv has no 'email address' column, as a mailchimp export does" in result.stderr
    unknown = digest("subscribers", "import", str(people), "--from", "aweber", ok=False)
    assert "unknown list format 'aweber'" in unknown.stderr


@pytest.mark.usefixtures("engine")
def test_the_whole_list_goes_out_as_csv_and_reads_back_in(
    digest: Digest, env: dict[str, str], tmp_path: Path
) -> None:
    env["DIGEST_TOPICS"] = "Cardiology,Oncology"
    digest(
        "subscribers", "add", "ray@example.org", "--confirmed", "--topic", "cardiology", "--topic", "oncology"
    )
    digest("subscribers", "add", "sue@example.org", "--confirmed")
    left = write(tmp_path, "left.csv", "email,state\ntom@example.org,unsubscribed\n")
    digest("subscribers", "import", str(left), "--confirmed", "--consent-source", "paper")
    digest("subscribers", "add", "una@example.org", "--confirmed")
    digest("subscribers", "erase", "una@example.org")

    out = digest("subscribers", "export", "--all", "--format", "csv").stdout

    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(row["email"], row["state"], row["topics"]) for row in rows] == [
        ("ray@example.org", "active", "cardiology;oncology"),
        ("sue@example.org", "active", ""),
        ("tom@example.org", "unsubscribed", ""),
    ]
    assert all(row["consent_at"] and row["subscribed_at"] for row in rows)
    # Read back by the importer as a plain CSV (the state column is the exporter's own).
    back = write(tmp_path, "back.csv", out)
    dry = digest("subscribers", "import", str(back), "--confirmed", "--consent-source", "export", "--dry-run")
    assert dry.stdout.splitlines()[:3] == [
        "line 2: ray@example.org -> active",
        "line 3: sue@example.org -> active",
        "line 4: tom@example.org -> unsubscribed",
    ]
    refused = digest("subscribers", "export", ok=False)
    assert "give one address, or --all for the whole list" in refused.stderr
