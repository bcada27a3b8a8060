"""``digest bench`` through SendGrid, small: the table it prints, ``--topics`` against one variant in one
run, and ``--processes`` sharing one send on PostgreSQL. The figures themselves go in the README."""

import subprocess
import sys

from digest.devtools.bench import run_bench
from tests.support import CORPORA
from tests.support.cli import Digest

SPEC = str(CORPORA / "sendgrid" / "tsg_mail_v3.json")


def rate(line: str) -> float:
    """The recipients/s cell of a table row."""
    return float(line.strip("|").split("|")[3].replace(",", ""))


def test_the_bench_compares_many_variants_with_one(digest: Digest, database_url: str) -> None:
    args = ["--subscribers", "300", "--naive", "5", "--batch-size", "40", "--spec", SPEC]
    result = digest("bench", *args, "--topics", "4", "--database", database_url)

    out = result.stdout
    assert out.startswith("one variant (every subscriber takes everything):\n")
    assert "\n4 topics:\n" in out
    rows = [
        line
        for line in out.splitlines()
        if line.startswith("| sqlite |") or line.startswith("| postgresql |")
    ]
    assert len(rows) == 2
    assert "| 300 |" in rows[0]
    assert rows[0].endswith("| not measured | |")  # the naive way runs once, with the topics
    assert rows[1].endswith("x |")
    assert all(rate(row) > 0 for row in rows)
    assert out.count("stand-in accepted 300 recipients, 0 twice") == 2
    variants = next(line for line in out.splitlines() if line.startswith("4 topics: "))
    assert int(variants.split()[2]) > 1  # "4 topics: N variants, each rendered once; ..."
    assert "recipients/s with 4 topics" in out.splitlines()[-1]

    # The database was given empty and is left empty: the same command runs again.
    again = digest("bench", *args, "--database", database_url)
    assert "stand-in accepted 300 recipients, 0 twice" in again.stdout


def test_several_sender_processes_share_the_send_on_postgresql(digest: Digest, database_url: str) -> None:
    args = ["--subscribers", "400", "--naive", "0", "--batch-size", "25", "--spec", SPEC]
    if not database_url.startswith("postgresql"):
        refused = digest("bench", *args, "--processes", "2", "--database", database_url, ok=False)
        assert refused.exit_code == 1
        assert "--processes above 1 needs PostgreSQL" in refused.stderr
        return
    result = digest("bench", *args, "--processes", "2", "--database", database_url)

    assert "stand-in accepted 400 recipients, 0 twice" in result.stdout
    assert "of the first of 2 sender processes" in result.stdout


def test_the_bench_sends_with_individual_tracking(digest: Digest, database_url: str) -> None:
    args = [
        "--subscribers",
        "200",
        "--naive",
        "3",
        "--batch-size",
        "50",
        "--spec",
        SPEC,
        "--validate-every",
        "1",
    ]
    result = digest("bench", *args, "--tracking", "individual", "--database", database_url)

    assert "stand-in accepted 200 recipients, 0 twice" in result.stdout
    assert "DIGEST_TRACKING=individual; every 1th request validated" in result.stdout
    refused = digest("bench", *args, "--tracking", "everything", "--database", database_url, ok=False)
    assert refused.exit_code == 2
    assert "'--tracking'" in refused.stderr
    assert "'everything'" in refused.stderr


def test_a_negative_topic_count_is_refused(digest: Digest) -> None:
    result = digest("bench", "--subscribers", "10", "--spec", SPEC, "--topics", "-1", ok=False)

    assert result.exit_code == 1
    assert "--topics must be at least 1" in result.stderr


def test_an_installed_digest_benches_without_the_spec(database_url: str) -> None:
    # pip install . carries no SendGrid spec: the bench still runs, and says it validated nothing.
    result = run_bench(
        subscribers=50,
        database=database_url,
        spec=None,
        validate_every=1,
        naive=0,
        concurrency=2,
        batch_size=25,
    )

    table = result.table()
    assert "stand-in accepted 50 recipients, 0 twice" in table
    assert "requests not validated against SendGrid's spec" in table


def test_a_spec_that_is_not_there_is_named(digest: Digest) -> None:
    result = digest("bench", "--subscribers", "10", "--spec", "/nowhere/tsg_mail_v3.json", ok=False)

    assert result.exit_code == 1
    assert "SendGrid's spec is not at /nowhere/tsg_mail_v3.json" in result.stderr


def test_the_bench_and_its_stand_in_load_only_for_digest_bench() -> None:
    loaded = "sorted(m for m in sys.modules if 'devtools' in m or 'jsonschema' in m)"
    script = f"import sys, digest.cli; print({loaded})"
    shown = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)

    assert shown.stdout.strip() == "[]"


def test_the_bench_times_each_wave_of_a_local_time_send(digest: Digest, database_url: str) -> None:
    args = ["--subscribers", "300", "--batch-size", "40", "--spec", SPEC, "--database", database_url]
    out = digest("bench", *args, "--zones", "5").stdout.splitlines()

    assert out[0].startswith("single wave: ")
    assert out[2] == "5 zones, 5 waves (one per UTC offset):"
    waves = [line for line in out if line.startswith("| ") and not line.startswith("| wave")]
    assert [int(line.split("|")[4].strip()) for line in waves] == [60] * 5  # everyone once, wave by wave
    assert [line.split("|")[2].strip() for line in waves] == sorted(
        line.split("|")[2].strip() for line in waves
    )
    assert out[-1].startswith("per wave: ")
    assert "within a minute of their local hour" in out[-1]


def test_the_bench_times_an_issue_report_against_the_naive_way(digest: Digest, database_url: str) -> None:
    out = digest("bench", "--report-clicks", "3000", "--database", database_url).stdout
    lines = out.splitlines()
    assert lines[0].startswith("issue report over 3,000 clicks on ")
    assert lines[1].split()[:2] == ["digest", "report"]
    assert lines[2].split()[:3] == ["the", "naive", "way"]
    assert "the time" in lines[3]
    assert "the memory" in lines[3]
