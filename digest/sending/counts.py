"""What the delivery ledger says of an issue's send: its deliveries by status, overall and by variant
(``digest status``, ``/metrics``, the send report). Queries: they take a session and never commit."""

from dataclasses import dataclass

from sqlmodel import Session, col, func, select

from digest.db.models import Delivery, DeliveryStatus, IssueVariant


def delivery_counts(session: Session, issue_id: int) -> dict[str, int]:
    rows = session.exec(
        select(Delivery.status, func.count())
        .where(Delivery.issue_id == issue_id)
        .group_by(col(Delivery.status))
    )
    counts = {status.value: 0 for status in DeliveryStatus}
    counts.update({status: count for status, count in rows})
    return counts


@dataclass(frozen=True)
class VariantCounts:
    """A variant's deliveries by status. ``position`` None: the issue's own email (a send from before
    topics), or, with ``unmatched`` counts, the subscribers who got nothing."""

    position: int | None
    summaries: int
    choices: tuple[tuple[str, ...], ...]
    counts: dict[str, int]

    @property
    def recipients(self) -> int:
        return sum(self.counts.values())


def variant_counts(session: Session, issue_id: int) -> list[VariantCounts]:
    """The issue's deliveries by variant and status, in the variants' order, the unmatched last."""
    rows = session.exec(
        select(Delivery.variant_id, Delivery.status, func.count())
        .where(Delivery.issue_id == issue_id)
        .group_by(col(Delivery.variant_id), col(Delivery.status))
    )
    by_variant: dict[int | None, dict[str, int]] = {}
    unmatched = 0
    for variant_id, status, number in rows:
        if status == DeliveryStatus.unmatched:
            unmatched += number
        else:
            by_variant.setdefault(variant_id, {})[status] = number
    variants = {
        variant.id: variant
        for variant in session.exec(select(IssueVariant).where(IssueVariant.issue_id == issue_id))
    }
    result = []
    for variant_id, counts in by_variant.items():
        variant = variants.get(variant_id) if variant_id is not None else None
        if variant is None:
            result.append(VariantCounts(None, -1, (), counts))
        else:
            choices = tuple(tuple(choice) for choice in variant.choices)
            summaries = len(variant.summaries.split(",")) if variant.summaries else 0
            result.append(VariantCounts(variant.position, summaries, choices, counts))
    result.sort(key=lambda v: v.position or 0)
    if unmatched:
        result.append(VariantCounts(None, 0, (), {DeliveryStatus.unmatched.value: unmatched}))
    return result
