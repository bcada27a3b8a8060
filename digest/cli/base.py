"""What every command shares: the Typer apps, one-line errors, opening the parts (closed when the
command ends), the clock, the progress bar."""

import functools
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from contextvars import ContextVar
from datetime import datetime
from typing import Annotated, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy.exc import IntegrityError, OperationalError

from digest.core.clock import utc_now
from digest.db import engine as db
from digest.db.engine import unit_of_work
from digest.errors import DigestError
from digest.logs import configure_logging
from digest.subscribers import topics as topic_service
from digest.wiring import Parts

log = logging.getLogger("digest")


P = ParamSpec("P")


R = TypeVar("R")


T = TypeVar("T")


app = typer.Typer(help="digest: a weekly email digest of clinical research summaries.", no_args_is_help=True)


db_app = typer.Typer(help="Database schema.", no_args_is_help=True)


subscribers_app = typer.Typer(help="Manage subscribers.", no_args_is_help=True)


editors_app = typer.Typer(help="Editors (DIGEST_EDITORS) and their API tokens.", no_args_is_help=True)


app.add_typer(db_app, name="db")


app.add_typer(subscribers_app, name="subscribers")


app.add_typer(editors_app, name="editors")


IssueArg = Annotated[int | None, typer.Argument(help="Issue number (default: the latest that fits).")]


# What the running command opened (parts, logging set-up): closed when it ends, whatever happens.
_resources: ContextVar[ExitStack] = ContextVar("resources")


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn digest's errors into one line on stderr and exit code 1; close what the command opened."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with ExitStack() as resources:
            token = _resources.set(resources)
            try:
                return run_reporting(command, *args, **kwargs)
            finally:
                _resources.reset(token)

    return wrapper


def run_reporting(command: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """``command``, with digest's errors and the database's turned into one line and exit code 1."""
    try:
        return command(*args, **kwargs)
    except DigestError as exc:
        raise fail(str(exc)) from exc
    except OperationalError as exc:
        raise fail(f"database error: {str(exc.orig).strip().splitlines()[0] if exc.orig else exc}") from exc
    except IntegrityError as exc:
        raise fail(
            f"another process changed the same data at once; run the command again ({exc.orig})"
        ) from exc


def fail(message: str) -> typer.Exit:
    """Print ``message`` as the one-line reason and return the exit to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


def now() -> datetime:
    return utc_now()


def open_parts() -> Parts:
    parts: Parts = _resources.get().enter_context(Parts.from_environment())
    return parts


def ready_parts() -> Parts:
    """Settings read and checked, and the database migrated to the current schema."""
    parts = open_parts()
    db.require_current_schema(parts.engine)
    return parts


def service_parts() -> Parts:
    """Ready parts for a long-running command, with logging set up (``DIGEST_LOG_FORMAT``)."""
    parts = ready_parts()
    _resources.get().callback(configure_logging(parts.settings.log_format))
    return parts


class BarProgress:
    """A progress bar (rich) for what takes more than a moment: a send, an import. It is drawn on stderr
    when that is a terminal, and left out of pipes and logs."""

    def __init__(self, doing: str = "sending") -> None:
        console = Console(stderr=True)
        columns = (TextColumn(doing), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        self._bar = Progress(*columns, console=console, transient=True, disable=not console.is_terminal)
        self._task = self._bar.add_task(doing, total=None)

    def __enter__(self) -> "BarProgress":
        self._bar.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._bar.stop()

    def start(self, total: int, done: int) -> None:
        self._bar.update(self._task, total=total, completed=done)

    def advance(self, count: int) -> None:
        self._bar.advance(self._task, count)

    def over(self, items: Sequence[T]) -> Iterator[T]:
        """``items`` one by one, the bar moving past each once it is done."""
        self.start(len(items), 0)
        for item in items:
            yield item
            self.advance(1)


def topics_on_offer(parts: Parts) -> list[str]:
    """The topics subscribers can choose (DIGEST_TOPICS and those of recent summaries)."""
    with unit_of_work(parts.engine) as session:
        return topic_service.offered(
            session,
            configured=parts.settings.topic_list,
            lookback=parts.settings.topics_lookback,
            now=now(),
        )
