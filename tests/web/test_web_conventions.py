"""HTTP conventions, on SQLite and PostgreSQL: ``HEAD`` wherever ``GET`` is served (through the test client
and through a real uvicorn), ``Allow`` on every 405, trailing-slash redirects to ``DIGEST_BASE_URL`` whatever
``Host`` says, and the web process's own ``/livez`` and ``/readyz`` beside the whole-system ``/healthz``.
"""

import http.client
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from digest.db.engine import make_engine
from digest.web.app import create_app
from digest.wiring import Parts
from tests.support.browser import free_port, live_server
from tests.support.cli import Digest
from tests.support.web import BASE_URL, send_issue

# Pages a monitor or a link preview may ask for, each one a GET route of its own.
PAGES = [
    "/subscribe",
    "/issues",
    "/issues/1",
    "/issues/feed.xml",
    "/healthz",
    "/livez",
    "/readyz",
    "/metrics",
    "/editor/login",
]


@pytest.fixture
def sent(digest: Digest, env: dict[str, str], client: TestClient) -> TestClient:
    """The app with issue 1 sent, so the archive has a page."""
    send_issue(digest, env)
    return client


@pytest.mark.parametrize("path", PAGES)
def test_head_answers_as_get_does_without_a_body(sent: TestClient, path: str) -> None:
    got = sent.get(path)
    head = sent.head(path)

    assert head.status_code == got.status_code
    assert head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"]
    assert head.headers["content-length"] == str(len(got.content))


def test_head_on_a_real_server_sends_headers_only(parts: Parts) -> None:
    with live_server(create_app(parts), free_port()) as url:
        port = int(url.rsplit(":", 1)[1])
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            connection.request("HEAD", "/healthz")
            answer = connection.getresponse()
            assert answer.read() == b""
            # The connection stays usable: no stray body bytes were sent after the headers.
            connection.request("GET", "/livez")
            assert connection.getresponse().read() == b'{"status":"live"}'
        finally:
            connection.close()
    assert answer.status in (200, 503)
    assert int(answer.headers["content-length"]) > 0


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/subscribe", "GET, HEAD, POST"),
        ("DELETE", "/issues", "GET, HEAD"),
        ("GET", "/webhooks/sendgrid", "POST"),
        ("HEAD", "/api/summaries", "POST"),
        ("PATCH", "/preferences/some-token", "GET, HEAD, POST"),
    ],
)
def test_a_405_names_every_method_the_address_serves(
    client: TestClient, method: str, path: str, allowed: str
) -> None:
    answer = client.request(method, path)

    assert answer.status_code == 405
    assert answer.headers["allow"] == allowed


@pytest.mark.parametrize("host", ["evil.example", "digest.example.org"])
def test_a_trailing_slash_redirects_to_the_site_whatever_the_host_header(
    client: TestClient, host: str
) -> None:
    answer = client.get("/subscribe/", params={"email": "a@example.org"}, headers={"host": host})

    assert answer.status_code == 307
    assert answer.headers["location"] == f"{BASE_URL}/subscribe?email=a%40example.org"


def test_a_trailing_slash_on_no_route_is_the_sites_404(client: TestClient) -> None:
    answer = client.get("/nothing-here/", headers={"host": "evil.example"})

    assert answer.status_code == 404
    assert "location" not in answer.headers
    assert "There is nothing at this address." in answer.text


def test_livez_and_readyz_answer_while_healthz_says_no_scheduler_leads(client: TestClient) -> None:
    assert client.get("/healthz").status_code == 503  # no `digest scheduler` runs in this test
    live = client.get("/livez")
    ready = client.get("/readyz")

    assert (live.status_code, live.json()) == (200, {"status": "live"})
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
    assert live.headers["cache-control"] == ready.headers["cache-control"] == "no-store"


def test_readyz_is_503_while_the_schema_is_out_of_date(client: TestClient, engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0001'"))

    answer = client.get("/readyz")

    assert answer.status_code == 503
    assert answer.json() == {
        "status": "not ready",
        "error": "the database schema is out of date: run `digest db upgrade`",
    }
    assert client.get("/livez").status_code == 200


@pytest.fixture
def unreachable(client: TestClient, database_url: str) -> Iterator[TestClient]:
    """The app pointed at a database that is not there (a closed port, a missing folder)."""
    web = client.app.state.web  # type: ignore[attr-defined]
    kept = web.engine
    if database_url.startswith("sqlite"):
        url = "sqlite:////nonexistent-folder/digest.db"
    else:
        url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/digest"
    web.engine = make_engine(url)
    yield client
    web.engine.dispose()
    web.engine = kept


def test_readyz_is_503_while_the_database_does_not_answer(unreachable: TestClient) -> None:
    answer = unreachable.get("/readyz")

    assert answer.status_code == 503
    assert answer.json()["status"] == "not ready"
    assert answer.json()["error"].startswith("cannot reach the database")
    assert unreachable.get("/livez").status_code == 200
