"""Test support: every database test runs on SQLite and on PostgreSQL.

PostgreSQL comes from ``DIGEST_TEST_POSTGRES_URL`` (default: the local server, trust auth). The run
creates its own database and drops it at the end. Outside CI a missing server skips the PostgreSQL
half with a reason; in CI (``CI=true``) it fails, so nothing is skipped silently.
"""

import os
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


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: a new SQLite file, or the run's PostgreSQL database with its schema wiped."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'digest.db'}"
    url: str = request.getfixturevalue("postgres_url")
    wipe = create_engine(url)
    with wipe.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    wipe.dispose()
    return url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """A migrated, empty database."""
    engine = make_engine(database_url)
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
