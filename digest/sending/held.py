"""Held outcomes: what the provider took while the database stayed away, kept on disk until recorded.

A sender that has handed a batch over waits for the database to record it (``db.engine.ride_out``). When
the database stays away longer than that, the process stops, and the batch's deliveries are still
``sending`` in the ledger: once their lease ran out, the next send would mail them again. So before
stopping, the sender writes the outcomes it holds to a file in the held-outcomes folder, and every send
records the files it finds there before it claims anything. Each file is written whole (a temporary
file, synced, then renamed) and removed only once its outcomes are committed.

Imports the ledger (to record) and nothing above it.
"""

import json
import logging
import os
import secrets
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from digest.db.models import DeliveryStatus
from digest.errors import ConfigError
from digest.sending.ledger import Changes, record_groups

log = logging.getLogger("digest.sending")

SUFFIX = ".held.json"


def ready(folder: Path) -> None:
    """Make sure ``folder`` is, or can be made, a folder this process writes to, before anything is handed
    over: a send finds out at its start, not in the middle of a database outage. Nothing is created."""
    existing = folder.absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        problem = "a file is in the way"
    elif not os.access(existing, os.W_OK | os.X_OK):
        problem = f"{existing} is not writable"
    else:
        return
    raise ConfigError(
        f"DIGEST_HELD_OUTCOMES={folder} is not a folder this process can write ({problem}): a send keeps "
        "there what the provider took if the database stays away"
    )


def keep(folder: Path, changes: Changes, *, now: datetime) -> Path:
    """Write ``changes`` (the ledger's outcome groups) to a new file in ``folder``; return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{now:%Y%m%dT%H%M%S%f}-{secrets.token_hex(4)}{SUFFIX}"
    groups = [
        {"values": [[column, encoded(value)] for column, value in values], "ids": ids}
        for values, ids in changes.items()
    ]
    partial = path.with_suffix(".partial")
    with partial.open("w", encoding="utf-8") as out:
        json.dump({"groups": groups}, out)
        out.flush()
        os.fsync(out.fileno())
    partial.rename(path)
    return path


def record_kept(engine: Engine, folder: Path) -> int:
    """Record every held file in ``folder`` in the ledger, oldest first, removing each once committed;
    returns how many deliveries they held."""
    if not folder.is_dir():
        return 0
    recorded = 0
    for path in sorted(folder.glob(f"*{SUFFIX}")):
        changes = read(path)
        record_groups(engine, changes)
        path.unlink()
        count = sum(len(ids) for ids in changes.values())
        log.info("recorded %d held outcomes from %s", count, path)
        recorded += count
    return recorded


def waiting(folder: Path) -> tuple[int, int]:
    """How many held files ``folder`` has, and how many deliveries they hold (``digest status``)."""
    if not folder.is_dir():
        return 0, 0
    files = sorted(folder.glob(f"*{SUFFIX}"))
    return len(files), sum(len(ids) for path in files for ids in read(path).values())


def read(path: Path) -> Changes:
    document = json.loads(path.read_text(encoding="utf-8"))
    return {
        tuple((str(column), decoded(column, value)) for column, value in group["values"]): [
            int(i) for i in group["ids"]
        ]
        for group in document["groups"]
    }


def encoded(value: object) -> Any:
    """A column's value as JSON: times as ISO 8601 text with their offset."""
    if isinstance(value, datetime):
        return value.isoformat()
    return value


TIMES = {"sent_at", "updated_at", "lease_until"}


def decoded(column: str, value: Any) -> object:
    if value is None:
        return None
    if column in TIMES:
        return datetime.fromisoformat(value)
    if column == "status":
        return DeliveryStatus(value)
    return value
