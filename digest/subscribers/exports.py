"""``digest subscribers export --all``: the whole list moved out, as CSV or JSON lines, streamed. Each
subscriber's address, state, topics, time zone (empty: the publisher's), dates and consent record, in the
order they joined. Rows are read in chunks from a server-side cursor and written as they come, so a million
subscribers take the memory of one chunk. Erased subscribers hold no address any more and are left out. The
CSV's columns are those ``digest subscribers import`` reads back (``email``, ``topics`` separated by ``;``).
"""

import csv
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any, TextIO

from sqlmodel import Session, col, select

from digest.core.topics import decode
from digest.db.models import Subscriber

CHUNK = 2_000
COLUMNS = (
    "email",
    "state",
    "topics",
    "timezone",
    "subscribed_at",
    "confirmed_at",
    "unsubscribed_at",
    "consent_at",
    "consent_form",
    "consent_ip",
    "consent_user_agent",
    "consent_text_version",
)


def when(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def every_subscriber(session: Session) -> Iterator[dict[str, Any]]:
    """Each subscriber not erased, as a flat record (topics a list: empty means every topic)."""
    query = (
        select(Subscriber)
        .where(col(Subscriber.erased_at).is_(None))
        .order_by(col(Subscriber.id))
        .execution_options(yield_per=CHUNK)
    )
    for subscriber in session.exec(query):
        yield {
            "email": subscriber.email,
            "state": subscriber.state,
            "topics": list(decode(subscriber.topics)),
            "timezone": subscriber.timezone,
            "subscribed_at": when(subscriber.created_at),
            "confirmed_at": when(subscriber.confirmed_at),
            "unsubscribed_at": when(subscriber.unsubscribed_at),
            "consent_at": when(subscriber.consent_at),
            "consent_form": subscriber.consent_form,
            "consent_ip": subscriber.consent_ip,
            "consent_user_agent": subscriber.consent_user_agent,
            "consent_text_version": subscriber.consent_text_version,
        }
        session.expunge(subscriber)  # nothing of a written chunk stays in the session


def write_jsonl(records: Iterator[dict[str, Any]], out: TextIO) -> None:
    for record in records:
        out.write(json.dumps(record, ensure_ascii=False) + "\n")


def write_csv(records: Iterator[dict[str, Any]], out: TextIO) -> None:
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow({**record, "topics": ";".join(record["topics"])})
