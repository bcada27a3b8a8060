"""``digest serve``: it listens where told, and a port in use is one ``error:`` line and exit code 1."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.browser import free_port
from tests.support.cli import Digest


@pytest.mark.usefixtures("engine")
def test_serve_answers_on_its_port(digest: Digest, env: dict[str, str], tmp_path: Path) -> None:
    port = free_port()
    command = [sys.executable, "-m", "digest", "serve", "--port", str(port)]
    server = subprocess.Popen(
        command, env={**os.environ, **env}, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/issues", timeout=5)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.communicate()[0]
                assert time.monotonic() < deadline, "digest serve did not answer within 60 s"
                time.sleep(0.2)
        assert answer.status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.usefixtures("engine")
def test_a_port_in_use_is_one_line(digest: Digest) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        refused = digest("serve", "--port", str(port), ok=False)

    assert refused.exit_code == 1
    assert refused.stderr == f"error: cannot listen on 127.0.0.1:{port}: Address already in use\n"
    assert refused.stdout == ""
