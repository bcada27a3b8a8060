"""Who leads: one ``digest scheduler`` acts, any other waits as a standby until the leader is gone.

- PostgreSQL: a session-level advisory lock held on a connection of its own. The server frees it the
  moment that connection ends, so a leader that dies (even by SIGKILL) hands over at the standby's next
  try. TCP keepalives on both sides bound how long a vanished machine can keep it.
- SQLite: ``fcntl.flock`` on a file beside the database file; the kernel frees it when the process ends.

Either way the work itself is idempotent per period and the ledger sends each delivery once, so even
two leaders for a moment (a network split) would compose once and send once.
"""

import fcntl
import hashlib
import logging
import os
from contextlib import suppress
from pathlib import Path
from typing import Protocol

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from digest.errors import ConfigError

log = logging.getLogger("digest.scheduler")

# One fixed key per database: advisory locks are scoped to the database, so deployments never collide.
LOCK_KEY = int.from_bytes(hashlib.sha256(b"digest.scheduler.leader").digest()[:8], "big", signed=True)
# libpq keepalives: a lock connection to a machine that vanished is noticed within about 25 s.
CLIENT_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3}
# The same on the server's side of the lock connection (settable per session), so that the server frees
# the lock of a leader whose machine vanished without closing its connection.
SERVER_SETTINGS = (
    "SET tcp_keepalives_idle = 10",
    "SET tcp_keepalives_interval = 5",
    "SET tcp_keepalives_count = 3",
)


class Leadership(Protocol):
    def acquire(self) -> bool:
        """Take the lead if nobody has it; never waits."""

    def held(self) -> bool:
        """Whether the lead taken is still ours (the lock connection may have been lost)."""

    def release(self) -> None: ...


def leadership_for(database_url: str) -> Leadership:
    url = make_url(database_url)
    if url.get_backend_name() == "postgresql":
        return AdvisoryLock(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return FileLock(Path(url.database).with_name(Path(url.database).name + ".scheduler.lock"))
    raise ConfigError(f"the scheduler needs PostgreSQL or an SQLite file, not {url.render_as_string()}")


class AdvisoryLock:
    """``pg_try_advisory_lock`` on a dedicated autocommit connection (no transaction is left open)."""

    def __init__(self, database_url: str) -> None:
        self.engine: Engine = create_engine(
            database_url, poolclass=NullPool, isolation_level="AUTOCOMMIT", connect_args=CLIENT_KEEPALIVES
        )
        self.connection: Connection | None = None
        self.mine = False

    def acquire(self) -> bool:
        try:
            if self.connection is None:
                self.connection = self.engine.connect()
                for setting in SERVER_SETTINGS:
                    self.connection.execute(text(setting))
            got = self.connection.execute(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": LOCK_KEY}
            ).scalar()
        except DBAPIError as exc:
            log.warning("cannot reach the database to take the lead: %s", first_line(exc))
            self.drop()
            return False
        self.mine = bool(got)
        return self.mine

    def held(self) -> bool:
        if not self.mine or self.connection is None:
            return False
        try:
            self.connection.execute(text("SELECT 1"))
        except DBAPIError as exc:
            log.error("lost the connection that holds the lead: %s", first_line(exc))
            self.drop()
            return False
        return True

    def release(self) -> None:
        if self.connection is not None and self.mine:
            with suppress(DBAPIError):  # the connection is gone, and the lock with it
                self.connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
        self.drop()
        self.engine.dispose()

    def drop(self) -> None:
        self.mine = False
        if self.connection is not None:
            with suppress(DBAPIError):
                self.connection.close()
            self.connection = None


class FileLock:
    """An exclusive ``flock`` on ``path``; the file keeps the leader's pid for people who look."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: int | None = None

    def acquire(self) -> bool:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd
        return True

    def held(self) -> bool:
        return self.fd is not None

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def first_line(exc: BaseException) -> str:
    detail = str(getattr(exc, "orig", None) or exc).strip()
    return detail.splitlines()[0] if detail else type(exc).__name__
