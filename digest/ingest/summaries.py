"""Ingest: upsert summaries from every source by their source id, so running it twice changes nothing.

A changed summary is updated while no approved, sending or sent issue holds it; once an issue is on its
way, what subscribers receive is the snapshot that was approved, so the row is kept as it was. An id
belongs to the source that gave it first: the same id from another source is rejected with that reason.
A summary dated in the future is stored like any other; compose never takes one dated after its own
``now``, so it waits for its time.

Each source is read outside any transaction (a feed is a network request), then stored in one
transaction with what its read said (``source_states``). Nothing one source does (an exception, a value
the database refuses) stops the others.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from digest.core.summary import SummaryIn
from digest.db.engine import unit_of_work
from digest.db.models import Issue, IssueItem, IssueStatus, Summary
from digest.ingest.source_states import known_validators, record_read
from digest.issues.compose import rerender_issues_holding
from digest.rendering import Renderer
from digest.sources import Source, SourceBatch

log = logging.getLogger("digest.ingest")

LOCKING_STATUSES = (IssueStatus.approved, IssueStatus.sending, IssueStatus.sent)


@dataclass
class SourceReport:
    origin: str
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    locked: int = 0
    rejected: list[str] = field(default_factory=list)
    error: str | None = None
    updated_ids: set[int] = field(default_factory=set)
    not_modified: bool = False
    # Summaries of this read dated after the ingest's now: stored, and held back by compose until then.
    future: int = 0
    # What became of each summary id of the batch: new, updated, unchanged, locked or rejected (and why).
    outcomes: dict[str, tuple[str, str | None]] = field(default_factory=dict)

    @property
    def line(self) -> str:
        if self.error:
            return f"{self.origin}: failed: {self.error}"
        if self.not_modified:
            return f"{self.origin}: not modified since the last read"
        parts = f"{self.new} new, {self.updated} updated, {self.unchanged} unchanged"
        parts += f", {len(self.rejected)} rejected"
        if self.locked:
            parts += f", {self.locked} changed but already in an approved issue (kept as approved)"
        if self.future:
            parts += f", {self.future} dated in the future (held until then)"
        return f"{self.origin}: {parts}"


def ingest(engine: Engine, sources: list[Source], renderer: Renderer, *, now: datetime) -> list[SourceReport]:
    """Read every source and store what it holds; one failing source does not stop the others.

    Draft issues that hold an updated summary are rendered again so their preview stays true.
    """
    reports: list[SourceReport] = []
    seen: dict[str, str] = {}
    for source in sources:
        reports.append(ingest_source(engine, source, seen=seen, now=now))
    updated = set().union(*(report.updated_ids for report in reports))
    if updated:
        with unit_of_work(engine) as session:
            rerender_issues_holding(session, renderer, updated)
    return reports


def ingest_source(engine: Engine, source: Source, *, seen: dict[str, str], now: datetime) -> SourceReport:
    """Read one source and store what it gave, with its state; any failure is this source's alone."""
    with unit_of_work(engine) as session:
        known = known_validators(session, source.name)
    try:
        batch = source.read(known)
    except Exception as exc:  # a source must not raise; if one does, it fails alone
        log.exception("ingest: %s: reading failed", source.name)
        batch = SourceBatch(origin=source.name, error=f"{type(exc).__name__}: {exc}")
    try:
        with unit_of_work(engine) as session:
            report = store_batch(session, batch, seen=seen, now=now)
            record_read(session, batch, name=source.name, line=report.line, now=now)
    except SQLAlchemyError as exc:
        log.exception("ingest: %s: storing failed", source.name)
        failed = SourceBatch(origin=batch.origin, error=f"could not store: {type(exc).__name__}")
        report = SourceReport(origin=batch.origin, error=failed.error)
        with unit_of_work(engine) as session:
            record_read(session, failed, name=source.name, line=report.line, now=now)
    return report


def store_batch(session: Session, batch: SourceBatch, *, seen: dict[str, str], now: datetime) -> SourceReport:
    report = SourceReport(origin=batch.origin, error=batch.error, not_modified=batch.not_modified)
    report.rejected = [str(rejection) for rejection in batch.rejected]
    ids = [summary.id for summary in batch.summaries]
    existing = {
        row.source_id: row for row in session.exec(select(Summary).where(col(Summary.source_id).in_(ids)))
    }
    locked = locked_summary_ids(session, [row.id for row in existing.values() if row.id is not None])
    for summary in batch.summaries:
        where = batch.origins.get(summary.id, batch.origin)
        row = existing.get(summary.id)
        owner = seen.get(summary.id) or (
            row.origin if row is not None and row.origin != batch.origin else None
        )
        if owner is not None:
            reason = f"already given by {owner}"
            report.rejected.append(f"{where}: summary {summary.id}: id: {reason}")
            report.outcomes[summary.id] = ("rejected", f"id: {reason}")
            continue
        seen[summary.id] = where
        report.future += summary.published_at > now
        report.outcomes[summary.id] = (store_one(session, summary, row, report, locked, now=now), None)
    return report


def store_one(
    session: Session,
    summary: SummaryIn,
    row: Summary | None,
    report: SourceReport,
    locked: set[int],
    *,
    now: datetime,
) -> str:
    """Insert, update or leave one summary; count it in ``report`` and say which."""
    if row is None:
        session.add(new_row(summary, origin=report.origin, now=now))
        report.new += 1
        return "new"
    if row.content_hash == summary.content_hash():
        report.unchanged += 1
        return "unchanged"
    if row.id in locked:
        report.locked += 1
        return "locked"
    apply(row, summary, origin=report.origin, now=now)
    report.updated += 1
    report.updated_ids.add(row.id or 0)
    return "updated"


def locked_summary_ids(session: Session, summary_ids: list[int]) -> set[int]:
    if not summary_ids:
        return set()
    query = (
        select(IssueItem.summary_id)
        .join(Issue, col(Issue.id) == col(IssueItem.issue_id))
        .where(col(IssueItem.summary_id).in_(summary_ids), col(Issue.status).in_(LOCKING_STATUSES))
    )
    return set(session.exec(query))


def new_row(summary: SummaryIn, *, origin: str, now: datetime) -> Summary:
    row = Summary(
        source_id=summary.id,
        origin=origin,
        url=summary.url,
        title=summary.title,
        key_takeaway=summary.key_takeaway,
        what_it_means=summary.what_it_means,
        published_at=summary.published_at,
        content_hash="",
        ingested_at=now,
        updated_at=now,
    )
    apply(row, summary, origin=origin, now=now)
    return row


def apply(row: Summary, summary: SummaryIn, *, origin: str, now: datetime) -> None:
    """Copy every field of ``summary`` onto ``row``."""
    row.origin = origin
    row.url = summary.url
    row.title = summary.title
    row.headline = summary.headline
    row.key_takeaway = summary.key_takeaway
    row.what_it_means = summary.what_it_means
    row.summary = summary.summary
    row.study_type = summary.study_type
    row.evidence_level = summary.evidence_level
    row.topics = list(summary.topics)
    row.source_journal = summary.source.journal if summary.source else None
    row.source_doi = summary.source.doi if summary.source else None
    row.source_published = summary.source.published if summary.source else None
    row.faq = [entry.model_dump() for entry in summary.faq]
    row.published_at = summary.published_at
    row.content_hash = summary.content_hash()
    row.updated_at = now
