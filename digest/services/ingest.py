"""Ingest: upsert summaries from every source by their source id, so running it twice changes nothing.

A changed summary is updated while no approved, sending or sent issue holds it; once an issue is on its
way, what subscribers receive is the snapshot that was approved, so the row is kept as it was.
"""

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from digest.core.summary import SummaryIn
from digest.db.engine import unit_of_work
from digest.db.models import Issue, IssueItem, IssueStatus, Summary
from digest.rendering import Renderer
from digest.services.compose import rerender_issues_holding
from digest.sources import Source, SourceBatch

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

    @property
    def line(self) -> str:
        if self.error:
            return f"{self.origin}: failed: {self.error}"
        parts = f"{self.new} new, {self.updated} updated, {self.unchanged} unchanged"
        parts += f", {len(self.rejected)} rejected"
        if self.locked:
            parts += f", {self.locked} changed but already in an approved issue (kept as approved)"
        return f"{self.origin}: {parts}"


def ingest(engine: Engine, sources: list[Source], renderer: Renderer, *, now: datetime) -> list[SourceReport]:
    """Read every source and store what it holds; one failing source does not stop the others.

    Draft issues that hold an updated summary are rendered again so their preview stays true.
    """
    reports: list[SourceReport] = []
    seen: dict[str, str] = {}
    for source in sources:
        batch = source.read()
        with unit_of_work(engine) as session:
            reports.append(store_batch(session, batch, seen=seen, now=now))
    updated = set().union(*(report.updated_ids for report in reports))
    if updated:
        with unit_of_work(engine) as session:
            rerender_issues_holding(session, renderer, updated)
    return reports


def store_batch(session: Session, batch: SourceBatch, *, seen: dict[str, str], now: datetime) -> SourceReport:
    report = SourceReport(origin=batch.origin, error=batch.error)
    report.rejected = [str(rejection) for rejection in batch.rejected]
    ids = [summary.id for summary in batch.summaries]
    existing = {
        row.source_id: row for row in session.exec(select(Summary).where(col(Summary.source_id).in_(ids)))
    }
    locked = locked_summary_ids(session, [row.id for row in existing.values() if row.id is not None])
    for summary in batch.summaries:
        where = batch.origins.get(summary.id, batch.origin)
        if summary.id in seen:
            report.rejected.append(f"{where}: summary {summary.id}: id: already given by {seen[summary.id]}")
            continue
        seen[summary.id] = where
        row = existing.get(summary.id)
        if row is None:
            session.add(new_row(summary, origin=batch.origin, now=now))
            report.new += 1
        elif row.content_hash == summary.content_hash():
            report.unchanged += 1
        elif row.id in locked:
            report.locked += 1
        else:
            apply(row, summary, origin=batch.origin, now=now)
            report.updated += 1
            report.updated_ids.add(row.id or 0)
    return report


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
