"""Logging for the long-running commands (scheduler, worker, serve, send, run), set up in one place.

``DIGEST_LOG_FORMAT=text`` writes one readable line per record; ``json`` writes one JSON object per line
(``time``, ``level``, ``logger``, ``message``, any ``extra=`` fields, ``exception``) for log collectors.
Standard library only. Records go to stderr, so a command's own output on stdout stays as it was.
"""

import json
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TextIO

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# The attributes every LogRecord has; anything else on a record came from ``extra=``. Uvicorn adds
# ``color_message``, the message again with terminal colour codes: noise in a log collector.
STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName", "color_message"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({key: value for key, value in record.__dict__.items() if key not in STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is at the time (a test runner may swap it after set-up)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def configure_logging(log_format: str, level: int = logging.INFO) -> Callable[[], None]:
    """Send every logger's records (digest, APScheduler, uvicorn) to stderr in ``log_format``.

    Returns what undoes it (commands run in-process, as the tests run them, leave logging as they found it).
    """
    root = logging.getLogger()
    handler = StderrHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(level)

    def undo() -> None:
        root.removeHandler(handler)
        root.setLevel(previous_level)

    return undo
