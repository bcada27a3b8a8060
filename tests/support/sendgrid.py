"""Test helpers moved out of test_sendgrid.py, shared by the tests that need them."""

import os
import random
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine

from digest.db.models import IssueStatus
from digest.devtools.sendgrid_standin import SendGridStandIn
from tests.support import CORPORA
from tests.support.sending import issue_status

SPEC = Path(os.environ.get("DIGEST_SENDGRID_SPEC") or CORPORA / "sendgrid" / "tsg_mail_v3.json")


KEY = "SG.test-key"


FROM = "Research Digest <digest@news.example.org>"


BASE = "https://digest.example.org"


def accepted(sendgrid: SendGridStandIn) -> Counter[str]:
    return Counter(line["email"] for line in sendgrid.recorded())


LEASE_SECONDS = 1


def send_env(database_url: str, sendgrid: SendGridStandIn, batch: int) -> dict[str, str]:
    """The environment of a real ``digest send`` process sending through the stand-in."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("DIGEST_")}
    env.update(
        DIGEST_ENV="test",
        DIGEST_DATABASE_URL=database_url,
        DIGEST_SECRET_KEYS="crash-test-signing-key-0123456789abcdef",
        DIGEST_BASE_URL=BASE,
        DIGEST_FROM=FROM,
        DIGEST_EMAIL_BACKEND="sendgrid",
        DIGEST_SENDGRID_API_KEY=KEY,
        DIGEST_SENDGRID_HOST=sendgrid.url,
        DIGEST_BATCH_SIZE=str(batch),
    )
    return env


def kill_and_finish(
    engine: Engine,
    number: int,
    sendgrid: SendGridStandIn,
    *,
    batch: int,
    database_url: str,
    folder: Path,
    rounds: int,
    after_kill: Callable[[int], None] | None = None,
) -> int:
    """Start ``digest send`` up to ``rounds`` times, SIGKILL each run at a random moment once it hands
    batches over (``after_kill(round)`` runs after each), then run it to the end; returns the kills."""
    sendgrid.delay = 0.1  # each request takes a little while: the send lasts a few seconds
    seed = int(os.environ.get("DIGEST_CRASH_SEED") or time.time())
    print(f"crash test seed: DIGEST_CRASH_SEED={seed}")
    moments = random.Random(seed)
    env = send_env(database_url, sendgrid, batch)
    # No wait for the database (it stays up): a killed run's batch is claimable again after the lease.
    env.update(DIGEST_SEND_LEASE=f"{LEASE_SECONDS}s", DIGEST_DATABASE_OUTAGE="0s", DIGEST_MAIL_TIMEOUT="10")
    command = [sys.executable, "-m", "digest", "send"]
    kills = 0
    for round_ in range(rounds):
        before = sendgrid.requests
        log = (folder / "send.log").open("ab")
        process = subprocess.Popen(command, env=env, cwd=folder, stdout=log, stderr=log)
        # Kill at a random moment once this run is handing batches over (its startup is not interesting).
        deadline = time.monotonic() + 60
        while sendgrid.requests == before and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(moments.uniform(0, 0.8))
        if process.poll() is None:
            process.kill()  # SIGKILL: no cleanup, no finally blocks
            kills += 1
        process.wait()
        if after_kill:
            after_kill(round_)
        time.sleep(LEASE_SECONDS + 0.2)  # the killed run's batch is claimable again
        if issue_status(engine, number) == IssueStatus.sent:
            break
    for _ in range(5):  # run to the end; a run may only find the rest still leased
        finished = subprocess.run(command, env=env, cwd=folder, capture_output=True, timeout=120)
        assert finished.returncode == 0, finished.stderr.decode()
        if issue_status(engine, number) == IssueStatus.sent:
            break
        time.sleep(LEASE_SECONDS + 0.2)
    return kills
