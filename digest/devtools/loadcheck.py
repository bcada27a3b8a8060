"""How fast ``GET /issues`` answers while slow requests run: ``python -m digest.devtools.loadcheck``.

It starts ``digest serve`` on a loopback port over a new SQLite database (or ``--database``), then times
``GET /issues`` three ways: on an idle server, while failed editor sign-ins run (each one an argon2 check
at production cost), and while one large signed SendGrid webhook holds the database's write lock and
sign-ups wait for it. A web process that did blocking work on its event loop answers the archive only
after that work; one that keeps it in worker threads answers in about the idle time.

Every request goes to 127.0.0.1, the number of requests is fixed, and the server is stopped at the end.
"""

import argparse
import base64
import http.client
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from argon2 import PasswordHasher
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

FORM_TOKEN = re.compile(r'name="form_token" value="([^"]+)"')
SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"
# No request waits longer than this; a slower answer is a finding, not a hang.
TIMEOUT = 120.0


@dataclass
class Timings:
    """Seconds each request took, in the order they were made."""

    seconds: list[float] = field(default_factory=list)

    def line(self, label: str) -> str:
        if not self.seconds:
            return f"{label:<34} no request"
        ordered = sorted(self.seconds)
        p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
        return (
            f"{label:<34} {len(ordered):>4} requests  p50 {1000 * statistics.median(ordered):8.1f} ms"
            f"  p95 {1000 * p95:8.1f} ms  max {1000 * ordered[-1]:8.1f} ms"
        )


class Site:
    """A keep-alive connection per thread to the server under test."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes, float]:
        """Status, body and seconds taken, on a connection of its own (no queueing in the client)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT)
        try:
            started = time.perf_counter()
            connection.request(method, path, body=body, headers=headers or {})
            answer = connection.getresponse()
            content = answer.read()
            return answer.status, content, time.perf_counter() - started
        finally:
            connection.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def public_key(key: ec.EllipticCurvePrivateKey) -> str:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


def server_env(folder: Path, database: str, key: ec.EllipticCurvePrivateKey) -> dict[str, str]:
    """A development server with limits far above what the check sends, an editor at production argon2
    cost, and the webhook on."""
    return {
        **os.environ,
        "DIGEST_DATABASE_URL": database,
        "DIGEST_OUTBOX_DIR": str(folder / "outbox"),
        "DIGEST_SOURCES": str(folder / "summaries"),
        "DIGEST_FROM": "Load Check <digest@news.example.org>",
        "DIGEST_POSTAL_ADDRESS": "Load Check, 1 Example Street, Springfield",
        "DIGEST_EDITORS": f"ada:{PasswordHasher().hash('the right passphrase')}",
        "DIGEST_EDITOR_LOGIN_LIMIT": "100000/minute",
        "DIGEST_RATE_LIMIT_IP": "100000/minute",
        "DIGEST_RATE_LIMIT_ADDRESS": "100000/hour",
        "DIGEST_SENDGRID_WEBHOOK_PUBLIC_KEY": public_key(key),
        "DIGEST_LOG_LEVEL": "WARNING",
    }


@contextmanager
def running_server(env: dict[str, str], folder: Path) -> Iterator[Site]:
    port = free_port()
    env = {**env, "DIGEST_BASE_URL": f"http://127.0.0.1:{port}"}
    digest = [sys.executable, "-m", "digest"]
    # This Python's own digest, with arguments of our making.
    subprocess.run([*digest, "db", "upgrade"], env=env, cwd=folder, check=True, capture_output=True)  # noqa: S603
    log = (folder / "serve.log").open("wb")
    server = subprocess.Popen(  # noqa: S603
        [*digest, "serve", "--port", str(port)], env=env, cwd=folder, stdout=log, stderr=log
    )
    try:
        site = Site(port)
        wait_until_up(site, server)
        yield site
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def wait_until_up(site: Site, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"digest serve stopped (exit {server.returncode})")
        try:
            if site.request("GET", "/issues")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("digest serve did not answer within 60 s")


def archive_while(site: Site, busy: Callable[[], bool], *, at_most: int) -> Timings:
    """``GET /issues`` one after another while ``busy()`` holds, at most ``at_most`` times."""
    timings = Timings()
    while busy() and len(timings.seconds) < at_most:
        status, _, seconds = site.request("GET", "/issues")
        if status != 200:
            raise SystemExit(f"GET /issues answered {status}")
        timings.seconds.append(seconds)
        time.sleep(0.01)
    return timings


def idle(site: Site, count: int) -> Timings:
    return archive_while(site, lambda: True, at_most=count)


def failed_sign_ins(site: Site, clients: int, each: int) -> Timings:
    """``clients`` threads each failing to sign in ``each`` times, as a guessing attacker would."""

    def guess(client: int) -> None:
        for attempt in range(each):
            status, page, _ = site.request("GET", "/editor/login")
            token = FORM_TOKEN.search(page.decode())
            if status != 200 or token is None:
                raise SystemExit(f"GET /editor/login answered {status}")
            # A name no editor has costs the same argon2 check as a wrong password (at production cost).
            form = f"form_token={token.group(1)}&name=guess-{client}&password=guess-{attempt}"
            headers = {"Content-Type": "application/x-www-form-urlencoded", "Origin": site.base_url}
            status, _, _ = site.request("POST", "/editor/login", form.encode(), headers)
            if status != 401:
                raise SystemExit(f"a wrong password answered {status}, not 401")

    return while_running(site, [threading.Thread(target=guess, args=(n,)) for n in range(clients)])


def big_webhook(site: Site, key: ec.EllipticCurvePrivateKey, events: int, signups: int) -> Timings:
    """One signed webhook of ``events`` events; ``signups`` clients sign up while it is stored."""
    now = int(time.time())
    batch = [
        {
            "event": "delivered",
            "email": f"reader{n}@example.org",
            "timestamp": now,
            "sg_event_id": f"load-{now}-{n}",
        }
        for n in range(events)
    ]
    body = json.dumps(batch).encode()
    stamp = str(now)
    signature = base64.b64encode(key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()
    answers: list[int] = []

    def post_events() -> None:
        headers = {"Content-Type": "application/json", SIGNATURE: signature, TIMESTAMP: stamp}
        answers.append(site.request("POST", "/webhooks/sendgrid", body, headers)[0])

    def sign_up(n: int) -> None:
        # One sign-up every half second for as long as the webhook is being stored (bounded all the same).
        for attempt in range(40):
            time.sleep(0.5)
            if answers:
                return
            payload = json.dumps({"email": f"new{n}-{attempt}-{now}@example.org", "consent": True})
            site.request("POST", "/subscribe", payload.encode(), {"Content-Type": "application/json"})

    threads = [threading.Thread(target=post_events)]
    threads += [threading.Thread(target=sign_up, args=(n,)) for n in range(signups)]
    timings = while_running(site, threads)
    if answers != [200]:
        raise SystemExit(f"the webhook answered {answers}")
    return timings


def while_running(site: Site, threads: list[threading.Thread]) -> Timings:
    for thread in threads:
        thread.start()
    time.sleep(0.1)  # the slow requests are in before the first archive request
    timings = archive_while(site, lambda: any(t.is_alive() for t in threads), at_most=2000)
    for thread in threads:
        thread.join(TIMEOUT)
    return timings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m digest.devtools.loadcheck", description=__doc__)
    parser.add_argument("--database", help="database URL (default: a new SQLite file in a temporary folder)")
    parser.add_argument("--clients", type=int, default=8, help="sign-in clients at once (default 8)")
    parser.add_argument("--sign-ins", type=int, default=4, help="failed sign-ins per client (default 4)")
    parser.add_argument("--events", type=int, default=20_000, help="events in the webhook (default 20,000)")
    parser.add_argument("--signups", type=int, default=4, help="clients signing up meanwhile (default 4)")
    args = parser.parse_args(argv)
    key = ec.generate_private_key(ec.SECP256R1())
    with tempfile.TemporaryDirectory(prefix="digest-loadcheck-") as temporary:
        folder = Path(temporary)
        database = args.database or f"sqlite:///{folder / 'digest.db'}"
        with running_server(server_env(folder, database, key), folder) as site:
            print(f"GET /issues on {site.base_url} (digest serve, one process)")
            print(idle(site, 40).line("idle"))
            load = f"{args.clients * args.sign_ins} failed sign-ins, {args.clients} at once"
            print(failed_sign_ins(site, args.clients, args.sign_ins).line(load))
            load = f"{args.events:,}-event webhook, sign-ups"
            print(big_webhook(site, key, args.events, args.signups).line(load))


if __name__ == "__main__":
    main()
