"""Engines, the unit of work, and migrations.

One unit of work per command or request: ``with unit_of_work(engine) as session`` commits when the block
ends and rolls back when it raises. Query functions take a session and never commit themselves.
"""

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from time import monotonic
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError
from sqlmodel import Session, SQLModel

from digest.errors import DatabaseError, InvalidInput

log = logging.getLogger("digest.db")
T = TypeVar("T")

PACKAGE_DIR = Path(__file__).resolve().parent.parent


def migrations_dir() -> Path:
    """``migrations/`` beside the package in a checkout, or inside it in an installed wheel."""
    for candidate in (PACKAGE_DIR / "migrations", PACKAGE_DIR.parent / "migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    raise DatabaseError(f"the migrations folder is missing (looked in {PACKAGE_DIR} and its parent)")


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets foreign keys, a busy timeout and WAL so readers never block."""
    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"timeout": 30})
            event.listen(engine, "connect", _sqlite_pragmas)
            return engine
        return create_engine(url, pool_pre_ping=True)
    except (ArgumentError, ImportError) as exc:
        raise InvalidInput(f"DIGEST_DATABASE_URL is not a usable database URL: {url!r} ({exc})") from exc


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


@contextmanager
def unit_of_work(engine: Engine) -> Iterator[Session]:
    """A session that commits at the end of the block and rolls back if it raises."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def dialect_insert(session: Session, table: Any) -> postgresql.Insert | sqlite.Insert:
    """``INSERT`` in the session's dialect, which has ``ON CONFLICT`` on PostgreSQL and SQLite alike."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def one_snapshot(session: Session) -> None:
    """Make every statement of the session's transaction, which must not have started, see the database
    as at its first (PostgreSQL's REPEATABLE READ). A transaction that then writes a row someone else
    changed meanwhile fails with a serialization error (``serialization_failure``): run it again.

    SQLite needs nothing: its one writer at a time gives a writing transaction a fixed view once it
    has written.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


def serialization_failure(exc: DBAPIError) -> bool:
    """PostgreSQL's "could not serialize access" (SQLSTATE 40001): the transaction may simply go again."""
    return getattr(exc.orig, "sqlstate", None) == "40001"


def _alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` (Alembic)."""
    try:
        command.upgrade(_alembic_config(engine), revision)
    except OperationalError as exc:
        raise unreachable(engine, exc) from exc


def drop_everything(engine: Engine) -> None:
    """Remove every table digest made, data and all, and the migration record (the bench's own database)."""
    from digest.db import models  # noqa: F401  (puts the tables on SQLModel.metadata)

    SQLModel.metadata.drop_all(engine)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS alembic_version"))


def applied_revisions(engine: Engine) -> set[str]:
    """The migrations the database says it is at; empty when it was never set up."""
    try:
        with engine.connect() as connection:
            return set(MigrationContext.configure(connection).get_current_heads())
    except OperationalError as exc:
        raise unreachable(engine, exc) from exc


def pending_migrations(engine: Engine) -> list[str]:
    """Revisions not yet applied; empty when the schema is current."""
    script = ScriptDirectory.from_config(_alembic_config(engine))
    current = applied_revisions(engine)
    if current == set(script.get_heads()):
        return []
    return [rev.revision for rev in script.walk_revisions() if rev.revision not in current]


def require_current_schema(engine: Engine) -> None:
    """Stop with a clear message when the database was never set up, or has not been migrated since."""
    current = applied_revisions(engine)
    if not current:
        raise DatabaseError("the database is not set up: run `digest db upgrade` to create its tables")
    if current != set(ScriptDirectory.from_config(_alembic_config(engine)).get_heads()):
        raise DatabaseError("the database schema is out of date: run `digest db upgrade`")


def unreachable(engine: Engine, exc: Exception) -> DatabaseError:
    detail = str(getattr(exc, "orig", exc)).strip().splitlines()[0] if str(exc) else type(exc).__name__
    return DatabaseError(
        f"cannot reach the database {engine.url.render_as_string(hide_password=True)}: {detail}"
    )


def ride_out(
    engine: Engine, action: Callable[[], T], *, bound: timedelta, pause: Callable[[float], object]
) -> T:
    """``action()``, tried again while the database cannot be reached (a restart, a failover), with
    backoff, for at most ``bound``; then its last error goes up.

    Why: a sender that has handed a batch to the provider holds outcomes no one else knows. Giving up on
    the first refused connection would leave that batch to be sent again once its lease runs out; waiting
    for the database records it once. The pool's connections died with the server, so it is emptied
    before each new try. ``action`` must be one unit of work that is safe to run again.
    """
    deadline = monotonic() + bound.total_seconds()
    delay = 0.25
    while True:
        try:
            return action()
        except DBAPIError as exc:
            if not went_away(exc) or monotonic() + delay > deadline:
                raise
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
            log.warning("the database does not answer (%s); trying again in %.2g s", reason, delay)
            engine.dispose()
            pause(delay)
            delay = min(delay * 2, 5.0)


def went_away(exc: DBAPIError) -> bool:
    """Whether ``exc`` says the database is away (connection refused, lost or invalidated), not that
    the statement was wrong."""
    return bool(exc.connection_invalidated) or isinstance(exc, OperationalError)
