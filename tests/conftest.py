"""Test support: every database test runs on SQLite and on PostgreSQL.

PostgreSQL comes from ``DIGEST_TEST_POSTGRES_URL`` (default: the local server, trust auth). The run
creates its own database and drops it at the end. Outside CI a missing server skips the PostgreSQL
half with a reason; in CI (``CI=true``) it fails, so nothing is skipped silently.

A test that asks for ``engine`` (directly or through ``parts``, ``client``, ...) gets a copy of a template
database migrated once per run: a file copy on SQLite, the template's schema dump loaded on PostgreSQL.
Replaying every migration for each test cost more than most tests themselves. The migration tests ask
only for ``database_url``, an empty database, and replay the migrations for real.
"""

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import time_machine
from fastapi.testclient import TestClient
from playwright.sync_api import Browser
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from digest.db.engine import make_engine, upgrade
from digest.web.app import create_app
from digest.wiring import Parts
from tests.support import NOW
from tests.support.browser import chromium
from tests.support.cli import Digest

ADMIN_URL = os.environ.get(
    "DIGEST_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# Set on a test by ``database_url`` when it handed over a migrated copy of the template.
MIGRATED = pytest.StashKey[bool]()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run."""
    name = f"digest_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        admin.dispose()
        message = f"PostgreSQL not reachable at {ADMIN_URL}: {exc.orig}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    yield url
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database migrated once for the run, for ``database_url`` to copy."""
    path = tmp_path_factory.mktemp("template") / "digest.db"
    migrated = make_engine(f"sqlite:///{path}")
    upgrade(migrated)
    with migrated.connect() as connection:  # everything in the file itself, nothing left in the WAL
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    migrated.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_template(postgres_url: str) -> str | None:
    """The public schema of a PostgreSQL database migrated once for the run, as SQL (``pg_dump``, rows
    included: ``alembic_version``), for ``database_url`` to load in one round trip. None without a
    ``pg_dump`` that can read the server: the tests then replay the migrations.

    Loading a dump, not ``CREATE DATABASE ... TEMPLATE``: creating and dropping a database each waits
    for a checkpoint, which on a busy server took longer than the replay it saves.
    """
    name = f"{make_url(postgres_url).database}_template"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    template = make_url(postgres_url).set(database=name)
    migrated = make_engine(template.render_as_string(hide_password=False))
    upgrade(migrated)
    migrated.dispose()
    dump = None
    if shutil.which("pg_dump"):
        libpq = template.set(drivername="postgresql").render_as_string(hide_password=False)
        command = ["pg_dump", "--schema=public", "--inserts", "--no-owner", "--no-privileges", libpq]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        # psql's meta-commands (\restrict) are not SQL: the rest is.
        lines = [line for line in done.stdout.splitlines() if not line.startswith("\\")]
        dump = "\n".join(lines) if done.returncode == 0 else None
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
    return dump


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: a new SQLite file, or the run's PostgreSQL database with its schema wiped.
    Migrated already, from the run's template, when the test asks for ``engine``."""
    migrated = "engine" in request.fixturenames
    if request.param == "sqlite":
        path = tmp_path / "digest.db"
        if migrated:
            shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        request.node.stash[MIGRATED] = migrated
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_url")
    template: str | None = request.getfixturevalue("postgres_template") if migrated else None
    request.node.stash[MIGRATED] = template is not None
    wipe = create_engine(url)
    raw = wipe.raw_connection()
    try:
        # One round trip, no parameters: psycopg sends the statements as one simple query.
        raw.cursor().execute("DROP SCHEMA public CASCADE;" + (template or "CREATE SCHEMA public;"))
        raw.commit()
    finally:
        raw.close()
        wipe.dispose()
    return url


@pytest.fixture
def engine(request: pytest.FixtureRequest, database_url: str) -> Iterator[Engine]:
    """A migrated, empty database: the copy ``database_url`` made, or, for a test that asked for this
    fixture only while it ran, the empty database migrated now."""
    engine = make_engine(database_url)
    if not request.node.stash.get(MIGRATED, False):
        upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def outbox(tmp_path: Path) -> Path:
    return tmp_path / "outbox"


@pytest.fixture
def env(database_url: str, outbox: Path, tmp_path: Path) -> dict[str, str]:
    """The environment of a ``digest`` command run against the test database."""
    return {
        "DIGEST_DATABASE_URL": database_url,
        "DIGEST_OUTBOX_DIR": str(outbox),
        "DIGEST_SOURCES": str(tmp_path / "summaries"),
        "DIGEST_BASE_URL": "https://digest.example.org",
        "DIGEST_FROM": "Research Digest <digest@news.example.org>",
        "DIGEST_POSTAL_ADDRESS": "Research Digest, 1 Example Street, Springfield",
    }


@pytest.fixture
def digest(env: dict[str, str]) -> Digest:
    return Digest(env)


@pytest.fixture
def web_env(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The environment the web app reads; tests may change it before asking for ``parts``."""
    env = dict(env)
    env["DIGEST_MIN_FILL_TIME"] = "0"
    return env


@pytest.fixture
def parts(web_env: dict[str, str], engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Parts]:
    """The wired parts of digest on the migrated test database (outbox mailer into ``outbox``)."""
    for key, value in web_env.items():
        monkeypatch.setenv(key, value)
    wired = Parts.from_environment()
    yield wired
    wired.close()


@pytest.fixture
def client(parts: Parts) -> Iterator[TestClient]:
    """The web app, served in-process (requests run in the same threads as background tasks)."""
    with TestClient(
        create_app(parts), base_url="https://digest.example.org", follow_redirects=False
    ) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's Chromium under Playwright, one for the whole run (each test opens its own pages)."""
    with chromium() as launched:
        yield launched


@pytest.fixture
def clock_at_now() -> Iterator[time_machine.Traveller]:
    """This process's clock at the sample data's ``NOW``, ticking: for tests whose summaries are dated
    from ``NOW`` (``tests.support.summary``) and that compose through a command or a route, which read
    the clock."""
    with time_machine.travel(NOW, tick=True) as clock:
        yield clock
