"""Slow requests never hold up the others: with ``digest serve`` running for real (uvicorn, one process),
``GET /issues`` answers in about its usual time while failed sign-ins run their argon2 checks, while a
sign-up waits for a database lock held elsewhere, and while a large webhook is stored on SQLite.

Margins are wide on purpose: a web process that does blocking work on its event loop answers the archive
only after that work (seconds here), one that keeps it in worker threads answers in milliseconds.
"""

import os
import sqlite3
import statistics
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from inspect import iscoroutinefunction
from pathlib import Path

import psycopg
import pytest
from argon2 import PasswordHasher
from fastapi.routing import APIRoute
from sqlalchemy import make_url
from starlette.routing import BaseRoute

from digest.devtools.loadcheck import Site, Timings, big_webhook, failed_sign_ins, running_server
from digest.web.app import create_app
from digest.wiring import Parts
from tests.support.editor import EDITORS
from tests.support.webhook import KEY, PUBLIC_KEY

RELAXED = {
    "DIGEST_EDITORS": EDITORS,
    "DIGEST_EDITOR_LOGIN_LIMIT": "100000/minute",
    "DIGEST_RATE_LIMIT_IP": "100000/minute",
    "DIGEST_RATE_LIMIT_ADDRESS": "100000/hour",
    "DIGEST_SENDGRID_WEBHOOK_PUBLIC_KEY": PUBLIC_KEY,
}


@pytest.fixture
def site(env: dict[str, str], tmp_path: Path) -> Iterator[Site]:
    """``digest serve`` in a process of its own on a free loopback port, over the test database."""
    with running_server({**os.environ, **env, **RELAXED}, tmp_path) as served:
        yield served


def argon2_seconds() -> float:
    """What one failed sign-in's check costs on this machine (a name no editor has: production cost)."""
    hasher, hashed = PasswordHasher(), PasswordHasher().hash("x")
    started = time.perf_counter()
    hasher.verify(hashed, "x")
    return time.perf_counter() - started


def test_failed_sign_ins_do_not_stall_the_archive(site: Site) -> None:
    check = argon2_seconds()

    timings = failed_sign_ins(site, clients=8, each=4)

    # On the event loop, each archive request waited for about eight checks (8 clients at once).
    assert len(timings.seconds) >= 3, timings.line("during sign-ins")
    assert statistics.median(timings.seconds) < max(0.1, 2 * check), timings.line("during sign-ins")


@contextmanager
def write_lock_held(database_url: str) -> Iterator[None]:
    """Another process's transaction holding what a sign-up must write: SQLite's one write lock (as a
    large webhook holds it while it stores its events), or the subscriber table on PostgreSQL."""
    if database_url.startswith("sqlite"):
        connection = sqlite3.connect(make_url(database_url).database or "", isolation_level=None)
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            connection.execute("COMMIT")
            connection.close()
        return
    plain = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(plain) as held:
        held.execute("LOCK TABLE subscriber IN EXCLUSIVE MODE")
        yield


def test_a_sign_up_waiting_for_the_database_does_not_stall_the_archive(site: Site, database_url: str) -> None:
    answers: list[int] = []
    body = b'{"email": "waiting@example.org", "consent": true}'
    headers = {"Content-Type": "application/json"}
    sign_up = threading.Thread(
        target=lambda: answers.append(site.request("POST", "/subscribe", body, headers)[0])
    )
    timings = Timings()
    archive = threading.Thread(
        target=lambda: timings.seconds.extend(site.request("GET", "/issues")[2] for _ in range(5))
    )
    with write_lock_held(database_url):
        sign_up.start()
        time.sleep(0.5)  # the sign-up is in, waiting for the lock
        archive.start()
        archive.join(3)
        archive_answered, still_waiting = not archive.is_alive(), sign_up.is_alive()
    sign_up.join(60)
    archive.join(60)

    assert still_waiting, "the sign-up did not wait for the lock: the test proves nothing"
    assert archive_answered, "the archive waited for the sign-up's lock"
    assert max(timings.seconds) < 1.0, timings.line("while a sign-up waits")
    assert answers == [202]  # it went through once the lock was released


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_large_webhook_and_sign_ups_do_not_stall_the_archive(site: Site) -> None:
    started = time.perf_counter()
    timings = big_webhook(site, KEY, events=20_000, signups=4)
    stored_in = time.perf_counter() - started

    # On the event loop, sign-ups waited for the webhook's write lock, and the archive for the sign-ups.
    assert max(timings.seconds) < max(1.0, stored_in / 4), timings.line(
        f"webhook stored in {stored_in:.1f} s"
    )


# Routes that run on the event loop; each awaits its blocking work in a worker thread (reviewed).
ON_THE_LOOP = {"/editor/login", "/api/summaries", "/api/subscribers", "/webhooks/sendgrid", "/livez"}


def every_route(routes: Iterable[BaseRoute]) -> Iterator[APIRoute]:
    """The app's routes, those of included routers too (FastAPI keeps those behind a wrapper)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from every_route(included.routes)


def test_only_reviewed_routes_run_on_the_event_loop(parts: Parts) -> None:
    routes = list(every_route(create_app(parts).routes))
    assert len(routes) > 20
    on_the_loop = {route.path for route in routes if iscoroutinefunction(route.endpoint)}

    assert on_the_loop == ON_THE_LOOP, "a new async route: keep blocking work off the event loop"
