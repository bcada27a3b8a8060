"""Summaries pushed by a publishing system (``POST /api/summaries``): one or a list, a result per item.

Pushed summaries are stored exactly as ingest stores a source's (``store_batch``) under the origin
``api``: the same validation, the same upsert by id, the same lock once an approved issue holds one, and
an id another source gave first is refused. The whole request is one transaction.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from digest.core.summary import validate_summary
from digest.db.engine import unit_of_work
from digest.errors import SummaryRejected
from digest.ingest.summaries import store_batch
from digest.issues.compose import rerender_issues_holding
from digest.rendering import Renderer
from digest.sources import SourceBatch

PUSH_ORIGIN = "api"
MAX_ITEMS = 500


@dataclass(frozen=True)
class ItemResult:
    """What became of one pushed item: new, updated, unchanged, locked (kept as approved) or rejected."""

    index: int
    id: str | None
    status: str
    problems: tuple[tuple[str, str], ...] = ()

    def as_json(self) -> dict[str, Any]:
        result: dict[str, Any] = {"index": self.index, "id": self.id, "status": self.status}
        if self.problems:
            result["problems"] = [{"field": name, "reason": reason} for name, reason in self.problems]
        return result


def push_summaries(
    engine: Engine, items: list[Any], renderer: Renderer, *, editor: str, now: datetime
) -> list[ItemResult]:
    """Validate and store ``items``; one bad item does not stop the others."""
    batch = SourceBatch(origin=PUSH_ORIGIN)
    results: dict[int, ItemResult] = {}
    index_of: dict[str, int] = {}
    for index, raw in enumerate(items):
        try:
            summary = validate_summary(raw, origin=f"item {index}")
        except SummaryRejected as rejection:
            results[index] = ItemResult(index, rejection.summary_id, "rejected", tuple(rejection.problems))
            continue
        if summary.id in index_of:
            problem = ("id", f"already given by item {index_of[summary.id]} of this request")
            results[index] = ItemResult(index, summary.id, "rejected", (problem,))
            continue
        index_of[summary.id] = index
        batch.add(summary, f"{PUSH_ORIGIN} ({editor})")
    with unit_of_work(engine) as session:
        report = store_batch(session, batch, seen={}, now=now)
        for summary_id, index in index_of.items():
            status, reason = report.outcomes[summary_id]
            problems = (("id", reason.removeprefix("id: ")),) if reason else ()
            results[index] = ItemResult(index, summary_id, status, problems)
        if report.updated_ids:
            rerender_issues_holding(session, renderer, report.updated_ids)
    return [results[index] for index in sorted(results)]
