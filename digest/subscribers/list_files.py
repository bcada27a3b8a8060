"""Reading a subscriber list exported from another service: its encoding, its delimiter, its columns.

Each service names its columns and its statuses its own way. Here each becomes a :class:`Row` in the
product's words: the address, whether the reader had left the old list (and how), whether they had ever
confirmed, when and from where they opted in, and their tags. Nothing here touches the database;
``subscribers/imports.py`` decides what each row does to the list. The formats follow each service's
documented export:

- ``mailchimp``: "Email Address", OPTIN_TIME, OPTIN_IP, CONFIRM_TIME, CONFIRM_IP, TAGS; an export comes as
  one file per status, told apart by its columns (UNSUB_TIME: unsubscribed, CLEAN_TIME: cleaned);
- ``substack``: email, created_at, email_disabled (``true``: the reader turned the emails off);
- ``buttondown``: email, subscriber_type (regular, premium, unactivated, unsubscribed, removed,
  undeliverable, spammy, ...), creation_date, ip_address, source, tags;
- ``listmonk``: email, status (enabled, disabled, blocklisted), created_at;
- ``ghost``: email, subscribed_to_emails, created_at, labels;
- ``csv``: an ``email`` column, an optional ``topics`` column (names separated by ``;``) and an optional
  ``timezone`` column (an IANA name, as Mailchimp's TIMEZONE column too), or addresses
  in the first column; ``state``, ``consent_at`` and ``consent_ip`` as ``digest subscribers export --all``
  writes them are honoured.
Imports ``errors``, ``db.models`` and ``core`` only.
"""

import codecs
import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from digest.db.models import SubscriberState
from digest.errors import InvalidInput, SourceError

LEAVING = {SubscriberState.unsubscribed, SubscriberState.bounced, SubscriberState.complained}
FORMATS = ("mailchimp", "substack", "buttondown", "listmonk", "ghost", "csv")


@dataclass(frozen=True)
class Row:
    """One reader of the file, in the product's words."""

    line: int
    address: str
    topics: str = ""  # the csv format's own column, as written: names separated by ";"
    tags: tuple[str, ...] = ()  # a service's tags or labels: kept where they name a topic on offer
    left: SubscriberState | None = None  # they had left the old list: unsubscribed, bounced, complained
    unconfirmed: bool = False  # they never confirmed there: they must confirm here
    opted_in_at: datetime | None = None
    ip: str | None = None
    source: str | None = None
    timezone: str = ""  # an IANA zone, from a ``timezone`` column (Mailchimp's TIMEZONE, digest's export)


Cells = dict[str, str]


def decoded(path: Path) -> str:
    """The file's text: UTF-16 when it starts with a UTF-16 byte order mark (Excel's "Unicode text"),
    else UTF-8 with or without a BOM."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc.strerror or exc}") from exc
    utf16 = raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    encoding = "utf-16" if utf16 else "utf-8-sig"
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise SourceError(
            f"cannot read {path}: not UTF-8 or UTF-16 text ({exc.reason} at byte {exc.start})"
        ) from exc


def delimiter_of(header: str) -> str:
    """Comma, semicolon (Excel in many locales) or tab: whichever the header line holds most of."""
    counts = {mark: header.count(mark) for mark in (",", ";", "\t")}
    best = max(counts, key=lambda mark: counts[mark])
    return best if counts[best] else ","


def table_of(text: str) -> list[list[str]]:
    lines = text.splitlines()
    if not lines:
        return []
    try:
        return list(csv.reader(lines, delimiter=delimiter_of(lines[0])))
    except csv.Error as exc:
        raise SourceError(f"not a readable CSV file: {exc}") from exc


def detect(header: list[str]) -> str:
    """The service a header row comes from; ``csv`` for anything else."""
    names = {name.strip().lower() for name in header}
    if "email address" in names and ("optin_time" in names or "leid" in names or "member_rating" in names):
        return "mailchimp"
    if "subscriber_type" in names:
        return "buttondown"
    if "email_disabled" in names or "active_subscription" in names:
        return "substack"
    if "subscribed_to_emails" in names:
        return "ghost"
    if "status" in names and "uuid" in names:
        return "listmonk"
    return "csv"


def when(text: str) -> datetime | None:
    """A service's timestamp (ISO 8601, or ``YYYY-MM-DD HH:MM:SS`` in UTC as Mailchimp writes it)."""
    text = text.strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def is_true(text: str) -> bool:
    return text.strip().lower() in ("true", "1", "yes", "t")


def split_tags(text: str) -> tuple[str, ...]:
    """Tags as services write them: ``"A","B"`` (Mailchimp) or ``A, B`` (Buttondown, Ghost)."""
    parts = [part.strip().strip('"').strip() for part in text.replace('","', ",").split(",")]
    return tuple(part for part in parts if part)


def mailchimp(line: int, cells: Cells) -> Row:
    left = None
    if "unsub_time" in cells:
        left = SubscriberState.unsubscribed
    elif "clean_time" in cells:
        left = SubscriberState.bounced
    return Row(
        line,
        cells.get("email address", ""),
        tags=split_tags(cells.get("tags", "")),
        left=left,
        opted_in_at=when(cells.get("confirm_time", "")) or when(cells.get("optin_time", "")),
        ip=cells.get("confirm_ip") or cells.get("optin_ip") or None,
        timezone=cells.get("timezone", ""),
    )


BUTTONDOWN_LEFT = {
    "unsubscribed": SubscriberState.unsubscribed,
    "removed": SubscriberState.unsubscribed,
    "spammy": SubscriberState.unsubscribed,
    "undeliverable": SubscriberState.bounced,
    "complained": SubscriberState.complained,
}


def buttondown(line: int, cells: Cells) -> Row:
    kind = cells.get("subscriber_type", "").strip().lower()
    return Row(
        line,
        cells.get("email", ""),
        tags=split_tags(cells.get("tags", "")),
        left=BUTTONDOWN_LEFT.get(kind),
        unconfirmed=kind == "unactivated",
        opted_in_at=when(cells.get("creation_date", "")),
        ip=cells.get("ip_address") or None,
        source=cells.get("source") or None,
    )


def substack(line: int, cells: Cells) -> Row:
    disabled = is_true(cells.get("email_disabled", ""))
    return Row(
        line,
        cells.get("email", ""),
        left=SubscriberState.unsubscribed if disabled else None,
        opted_in_at=when(cells.get("created_at", "") or cells.get("subscription_created_at", "")),
    )


def listmonk(line: int, cells: Cells) -> Row:
    status = cells.get("status", "").strip().lower()
    return Row(
        line,
        cells.get("email", ""),
        left=None if status in ("enabled", "") else SubscriberState.unsubscribed,
        opted_in_at=when(cells.get("created_at", "")),
    )


def ghost(line: int, cells: Cells) -> Row:
    subscribed = is_true(cells.get("subscribed_to_emails", "true"))
    return Row(
        line,
        cells.get("email", ""),
        tags=split_tags(cells.get("labels", "")),
        left=None if subscribed else SubscriberState.unsubscribed,
        opted_in_at=when(cells.get("created_at", "")),
    )


def plain(line: int, cells: Cells) -> Row:
    """A plain CSV, or digest's own export read back: its ``state`` column is honoured."""
    state = cells.get("state", "").strip().lower()
    left = SubscriberState(state) if state in LEAVING else None
    return Row(
        line,
        cells.get("email", ""),
        topics=cells.get("topics", ""),
        left=left,
        unconfirmed=state == SubscriberState.pending,
        opted_in_at=when(cells.get("consent_at", "")),
        ip=cells.get("consent_ip") or None,
        timezone=cells.get("timezone", ""),
    )


READERS: dict[str, Callable[[int, Cells], Row]] = {
    "mailchimp": mailchimp,
    "buttondown": buttondown,
    "substack": substack,
    "listmonk": listmonk,
    "ghost": ghost,
    "csv": plain,
}
EMAIL_COLUMN = {"mailchimp": "email address"}


def rows_in(path: Path, service: str | None = None) -> tuple[str, list[Row]]:
    """The service the file comes from (``service``, or detected from its header) and its rows."""
    if service is not None and service not in FORMATS:
        raise InvalidInput(f"unknown list format {service!r}: one of {', '.join(FORMATS)}")
    table = table_of(decoded(path))
    if not table:
        return service or "csv", []
    header = [cell.strip().lower() for cell in table[0]]
    kind = service or detect(header)
    column = EMAIL_COLUMN.get(kind, "email")
    if column not in header:
        if kind != "csv":
            raise InvalidInput(f"{path.name} has no {column!r} column, as a {kind} export does")
        return kind, [Row(number, row[0] if row else "") for number, row in enumerate(table, 1)]
    read = READERS[kind]
    return kind, list(each_row(table[1:], header, read))


def each_row(body: list[list[str]], header: list[str], read: Callable[[int, Cells], Row]) -> Iterator[Row]:
    for number, row in enumerate(body, 2):
        if not any(cell.strip() for cell in row):
            continue  # a blank line, as spreadsheets leave at the end
        yield read(number, dict(zip(header, row, strict=False)))
