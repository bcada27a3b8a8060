"""A real browser for page tests: Debian's Chromium driven by Playwright, and a live server to point it at.

In CI (``CI=true``) a missing Chromium fails the test run instead of skipping it.
"""

import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from playwright.sync_api import Browser, sync_playwright

from tests.support import parts_of, read_outbox

CHROMIUM = Path(os.environ.get("DIGEST_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def live_server(app: FastAPI, port: int) -> Iterator[str]:
    """Serve ``app`` with uvicorn on 127.0.0.1:``port`` in a thread for the duration of the block."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def chromium() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        message = f"Chromium not found at {CHROMIUM}: apt-get install -y chromium"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def wait_for_emails(outbox: Path, count: int, timeout: float = 10) -> None:
    """A live server sends emails after answering (a background task): wait until ``count`` have landed."""
    deadline = time.monotonic() + timeout
    while len(list(outbox.glob("**/*.eml"))) < count:
        assert time.monotonic() < deadline, f"fewer than {count} emails reached {outbox}"
        time.sleep(0.05)


def link_in(outbox: Path, kind: str, pattern: str) -> str:
    """The first link matching ``pattern`` in the text part of the newest email of ``kind``.

    The live server sends emails after answering (a background task), so give them a moment to land.
    """
    deadline = time.monotonic() + 10
    while not (messages := [m for m in read_outbox(outbox) if kind in str(m["Subject"])]):
        assert time.monotonic() < deadline, f"no {kind!r} email in the outbox"
        time.sleep(0.05)
    plain, _ = parts_of(messages[-1])
    match = re.search(pattern, plain)
    assert match, plain
    return match.group(0)
