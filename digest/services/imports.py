"""``digest subscribers import``: addresses from a CSV file, bad rows reported by line, good rows kept.

Imported addresses become pending and are sent a confirmation, unless the operator states that consent
was given elsewhere (``--confirmed --consent-source``), which is recorded as the consent form. An optional
``topics`` column holds each subscriber's topics, separated by ``;`` (empty: everything); a topic that is
not on offer makes its row a bad one.
"""

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine

from digest.db.engine import unit_of_work
from digest.errors import InvalidInput, SourceError
from digest.services.subscribers import Consent, add, is_suppressed, normalise_address
from digest.services.subscriptions import Notice, request_subscription
from digest.services.topics import checked


@dataclass
class ImportReport:
    added: int = 0
    problems: list[str] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)


@dataclass(frozen=True)
class Row:
    line: int
    address: str
    topics: str = ""  # as written: names separated by ";"


def rows_in(path: Path) -> list[Row]:
    """Each row: the ``email`` and ``topics`` columns if there is a header, else the first column."""
    try:
        rows = list(csv.reader(path.read_text(encoding="utf-8-sig").splitlines()))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise SourceError(f"cannot read {path}: {exc}") from exc
    if not rows:
        return []
    header = [cell.strip().lower() for cell in rows[0]]
    if "email" not in header:
        return [Row(number, row[0] if row else "") for number, row in enumerate(rows, 1)]
    email, topics = header.index("email"), header.index("topics") if "topics" in header else None

    def cell(row: list[str], column: int | None) -> str:
        return row[column] if column is not None and len(row) > column else ""

    return [Row(number, cell(row, email), cell(row, topics)) for number, row in enumerate(rows[1:], 2)]


def import_rows(
    engine: Engine,
    rows: Iterable[Row],
    *,
    file_name: str,
    consent_source: str | None,
    now: datetime,
    resend_window: timedelta,
    topics_on_offer: Sequence[str],
) -> ImportReport:
    """Import ``rows`` (read from ``file_name`` by ``rows_in``), each in a transaction of its own."""
    report = ImportReport()
    for row in rows:
        address = row.address
        try:
            topics = checked(row.topics.split(";"), allowed=topics_on_offer)
            with unit_of_work(engine) as session:
                if consent_source:
                    add(
                        session,
                        address,
                        confirmed=True,
                        consent=Consent(form=f"import: {consent_source}"),
                        now=now,
                        topics=topics,
                    )
                else:
                    if is_suppressed(session, normalise_address(address)):
                        # Erased at its owner's request: an operator's list must not mail it again.
                        raise InvalidInput(f"{address} was erased at its owner's request; not imported")
                    consent = Consent(form=f"import: {file_name}")
                    notice = request_subscription(
                        session, address, consent, now=now, resend_window=resend_window, topics=topics
                    )
                    if notice is not None:
                        report.notices.append(notice)
            report.added += 1
        except InvalidInput as exc:
            report.problems.append(f"line {row.line}: {exc}")
    return report
