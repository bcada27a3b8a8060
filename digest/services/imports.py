"""``digest subscribers import``: addresses from a CSV file, bad rows reported by line, good rows kept.

Imported addresses become pending and are sent a confirmation, unless the operator states that consent
was given elsewhere (``--confirmed --consent-source``), which is recorded as the consent form.
"""

import csv
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine

from digest.db.engine import unit_of_work
from digest.errors import InvalidInput, SourceError
from digest.services.subscribers import Consent, add, is_suppressed, normalise_address
from digest.services.subscriptions import Notice, request_subscription


@dataclass
class ImportReport:
    added: int = 0
    problems: list[str] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)


def addresses_in(path: Path) -> list[tuple[int, str]]:
    """(line number, address) for each row: the ``email`` column if there is a header, else the first."""
    try:
        rows = list(csv.reader(path.read_text(encoding="utf-8-sig").splitlines()))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise SourceError(f"cannot read {path}: {exc}") from exc
    if not rows:
        return []
    header = [cell.strip().lower() for cell in rows[0]]
    column, first = (header.index("email"), 2) if "email" in header else (0, 1)
    return [
        (number, row[column] if len(row) > column else "")
        for number, row in enumerate(rows[first - 1 :], first)
    ]


def import_file(
    engine: Engine, path: Path, *, consent_source: str | None, now: datetime, resend_window: timedelta
) -> ImportReport:
    report = ImportReport()
    for line, address in addresses_in(path):
        try:
            with unit_of_work(engine) as session:
                if consent_source:
                    add(
                        session,
                        address,
                        confirmed=True,
                        consent=Consent(form=f"import: {consent_source}"),
                        now=now,
                    )
                else:
                    if is_suppressed(session, normalise_address(address)):
                        # Erased at its owner's request: an operator's list must not mail it again.
                        raise InvalidInput(f"{address} was erased at its owner's request; not imported")
                    consent = Consent(form=f"import: {path.name}")
                    notice = request_subscription(
                        session, address, consent, now=now, resend_window=resend_window
                    )
                    if notice is not None:
                        report.notices.append(notice)
            report.added += 1
        except InvalidInput as exc:
            report.problems.append(f"line {line}: {exc}")
    return report
