"""The bench's data: N synthetic active subscribers (COPY on PostgreSQL, in chunks so memory stays flat)
and one issue composed from the shipped samples, optionally spread over K topics."""

import random
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from sqlalchemy import Engine, insert
from sqlmodel import col, func, select

from digest.core.topics import encode
from digest.db.engine import unit_of_work
from digest.db.models import IssueStatus, Subscriber, Summary
from digest.errors import InvalidInput
from digest.ingest.summaries import ingest
from digest.issues.compose import compose
from digest.issues.decisions import decide
from digest.sources.samples import SampleSource
from digest.wiring import Parts


def require_empty(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        if session.exec(select(func.count()).select_from(Subscriber)).one():
            raise InvalidInput("the benchmark needs an empty database: it adds its own subscribers")


def topic_names(count: int) -> list[str]:
    return [f"topic {n}" for n in range(1, count + 1)]


def choices(topics: int, seed: int = 20261126) -> Iterator[str]:
    """Stored topic choices, endlessly: with ``topics``, a third take everything and the rest pick one
    to three topics at random (so every small combination turns up); without, everyone everything."""
    names = topic_names(topics)
    pick = random.Random(seed)
    while True:
        if not topics or pick.random() < 1 / 3:
            yield encode(())
        else:
            yield encode(pick.sample(names, pick.randint(1, min(3, topics))))


def add_subscribers(
    engine: Engine, count: int, chunk: int = 20_000, *, topics: int = 0, zones: Sequence[str] = ()
) -> None:
    """N active subscribers, in chunks so memory stays flat (COPY on PostgreSQL); with ``zones``, spread
    over them in turn."""
    now = datetime.now(UTC)
    chosen = choices(topics)
    for start in range(0, count, chunk):
        rows: list[dict[str, object]] = [
            {
                "topics": next(chosen),
                "email": f"reader{n}@bench.example.org",
                "email_key": f"reader{n}@bench.example.org",
                "state": "active",
                "token_nonce": secrets.token_hex(8),
                "created_at": now,
                "updated_at": now,
                "confirmed_at": now,
                "timezone": zones[n % len(zones)] if zones else None,
            }
            for n in range(start, min(start + chunk, count))
        ]
        if engine.dialect.name == "postgresql":
            copy_rows(engine, rows)
        else:
            with unit_of_work(engine) as session:
                session.execute(insert(Subscriber), rows)


def copy_rows(engine: Engine, rows: list[dict[str, object]]) -> None:
    columns = list(rows[0])
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        with cursor.copy(f"COPY subscriber ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([row[column] for column in columns])
        connection.commit()
    finally:
        connection.close()


def compose_issue(parts: Parts, *, topics: int = 0) -> int:
    now = datetime.now(UTC)
    ingest(parts.engine, [SampleSource(now=now)], parts.renderer, now=now)
    with unit_of_work(parts.engine) as session:
        if topics:  # the samples' own topics replaced: summary n carries topic n and, every third, n+1
            names = topic_names(topics)
            for n, row in enumerate(session.exec(select(Summary).order_by(col(Summary.id)))):
                row.topics = [names[n % topics]] + ([names[(n + 1) % topics]] if n % 3 == 0 else [])
                session.add(row)
    with unit_of_work(parts.engine) as session:
        rules = replace(parts.compose_rules(), max_items=10)
        issue = compose(session, parts.renderer, rules, now=now)
        assert issue is not None
        decide(session, issue.number, IssueStatus.approved, by="bench", now=now)
        return issue.number
