"""Clicks counted by several web processes at once, on SQLite and PostgreSQL: two real ``digest serve``
processes share one database while readers click through both at the same time, and the report counts
every click once."""

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from digest.wiring import Parts
from tests.support.browser import free_port
from tests.support.cli import Digest
from tests.support.engagement import clicks, send_with_note, tracked_links
from tests.support.web import RELAXED, confirmed, digests, path_of

READERS = 40  # each follows two different links: a person, not a burst of three
PROCESSES = 2


@pytest.fixture
def web_env(web_env: dict[str, str]) -> dict[str, str]:
    return {**web_env, **RELAXED}


@pytest.fixture
def servers(env: dict[str, str], tmp_path: Path, engine: object) -> Iterator[list[str]]:
    """Two ``digest serve`` processes on the test's database, each on a port of its own."""
    ports = [free_port() for _ in range(PROCESSES)]
    started = [
        subprocess.Popen(
            [sys.executable, "-m", "digest", "serve", "--port", str(port)],
            env={**os.environ, **env},
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        for port in ports
    ]
    try:
        bases = [f"http://127.0.0.1:{port}" for port in ports]
        deadline = time.monotonic() + 60
        for base, server in zip(bases, started, strict=True):
            while True:
                try:
                    httpx.get(f"{base}/livez", timeout=5)
                    break
                except httpx.TransportError:
                    assert server.poll() is None, "digest serve stopped"
                    assert time.monotonic() < deadline, "digest serve did not answer within 60 s"
                    time.sleep(0.2)
        yield bases
    finally:
        for server in started:
            server.terminate()
        for server in started:
            server.wait(timeout=30)


def test_two_web_processes_count_every_click_once(
    client: TestClient, outbox: Path, digest: Digest, env: dict[str, str], parts: Parts, servers: list[str]
) -> None:
    confirmed(client, outbox, "ann@example.org")
    number = send_with_note(digest, env, parts)
    links = tracked_links(digests(outbox, "ann@example.org")[0])[0]
    first, second = links[1], links[5]
    assert first != second

    def reader(n: int) -> list[int]:
        # One browser per reader (its own user agent: its own visitor), each click through the other process.
        agent = f"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/130.0.{n} Safari/537.36"
        answers = []
        for index, url in enumerate((first, second)):
            base = servers[(n + index) % PROCESSES]
            answer = httpx.get(base + path_of(url), headers={"User-Agent": agent}, timeout=30)
            answers.append(answer.status_code)
        return answers

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = [status for answers in pool.map(reader, range(READERS)) for status in answers]

    assert statuses == [302] * (2 * READERS)
    assert len(clicks(parts.engine)) == 2 * READERS
    report = json.loads(digest("report", str(number), "--json").stdout)
    assert report["clicks"] == {"unique": READERS, "total": 2 * READERS}
    assert report["machine_clicks"] == 0
