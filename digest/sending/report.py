"""What the editor and ``digest variants`` show of an issue's variants, and the email of one of them.

Before an issue's send starts, the live plan (``variants.plan_for``: what a send started now would
produce); once it started, the variants stored then, with their deliveries by status. Either way the
variants are numbered as the send numbers them, largest audience first, and the subscribers whose topics
select none of the issue's summaries are counted apart: they get no email.
"""

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlmodel import Session

from digest.core.topics import label, parse_key
from digest.db.engine import unit_of_work
from digest.db.models import PUBLISHED, DeliveryStatus, Issue, IssueStatus
from digest.errors import NotFound
from digest.issues.editing import items_of
from digest.issues.queries import get_issue
from digest.rendering import Renderer
from digest.sending.counts import variant_counts
from digest.sending.variants import VariantEmail, email_for_key, plan_for, stored

# The order deliveries are counted in, on the page and in the command's output.
STATUSES = (
    DeliveryStatus.sent,
    DeliveryStatus.pending,
    DeliveryStatus.sending,
    DeliveryStatus.failed,
    DeliveryStatus.skipped,
)


@dataclass(frozen=True)
class VariantRow:
    """One variant: its number in the issue, its key (the summary ids it holds), the topic choices
    behind it, its subscribers, its summaries' titles in issue order, and (once sent) its deliveries."""

    number: int
    key: str
    choices: tuple[tuple[str, ...], ...]
    subscribers: int
    titles: tuple[str, ...]
    deliveries: tuple[tuple[str, int], ...] = ()

    @property
    def labels(self) -> list[str]:
        """The choices as they read: ``"everything"``, ``"cardiology + mental health"``."""
        return [label(choice) for choice in self.choices]


@dataclass(frozen=True)
class VariantReport:
    """An issue's variants: planned (before its send) or stored (once it started), or none (cancelled)."""

    number: int
    status: str
    variants: tuple[VariantRow, ...]
    unmatched: int  # subscribers whose topics select none of the issue's summaries
    unmatched_choices: tuple[tuple[str, ...], ...]  # their choices; known before the send only

    @property
    def started(self) -> bool:
        return self.status in PUBLISHED

    @property
    def cancelled(self) -> bool:
        return self.status == IssueStatus.cancelled

    @property
    def one_for_all(self) -> bool:
        """Nobody chose topics: one variant, the whole issue, for every subscriber."""
        return not self.unmatched and [row.choices for row in self.variants] == [((),)]

    @property
    def unmatched_labels(self) -> list[str]:
        return [label(choice) for choice in self.unmatched_choices]

    def find(self, key: str) -> VariantRow | None:
        return next((row for row in self.variants if row.key == key), None)


@dataclass(frozen=True)
class VariantView:
    """One variant as the editor's variant page shows it, with the issue's number and status."""

    number: int
    status: str
    variant: VariantRow
    email: VariantEmail


def variants_of(engine: Engine, number: int) -> VariantReport:
    """The variants of issue ``number`` (a use case: its own unit of work); ``NotFound`` for no issue."""
    with unit_of_work(engine) as session:
        return report(session, get_issue(session, number))


def variant_view(engine: Engine, renderer: Renderer, number: int, key: str) -> VariantView:
    """Variant ``key`` of issue ``number`` and its email; ``NotFound`` when either is not there."""
    with unit_of_work(engine) as session:
        issue = get_issue(session, number)
        variant, email = variant_email(session, renderer, issue, key)
        return VariantView(issue.number, str(issue.status), variant, email)


def report(session: Session, issue: Issue) -> VariantReport:
    """The variants of ``issue`` as the editor sees them."""
    if issue.status == IssueStatus.cancelled:
        return VariantReport(issue.number, issue.status, (), 0, ())
    titles = {item.summary_id: item.title for item in items_of(session, issue)}  # in issue order
    if issue.status in PUBLISHED:
        return sent_report(session, issue, titles)
    rows: list[VariantRow] = []
    unmatched = 0
    unmatched_choices: tuple[tuple[str, ...], ...] = ()
    for number, variant in enumerate(plan_for(session, issue), start=1):
        if variant.empty:
            unmatched, unmatched_choices = variant.subscribers, variant.choices
            continue
        titled = titles_of(titles, variant.key)
        rows.append(VariantRow(number, variant.key, variant.choices, variant.subscribers, titled))
    return VariantReport(issue.number, issue.status, tuple(rows), unmatched, unmatched_choices)


def sent_report(session: Session, issue: Issue, titles: dict[int, str]) -> VariantReport:
    """The variants stored when the send of ``issue`` started, with their deliveries."""
    counted = variant_counts(session, issue.id or 0)
    by_position = {group.position: group.counts for group in counted if group.position is not None}
    rows = []
    for variant in stored(session, issue):
        counts = by_position.get(variant.position, {})
        choices = tuple(tuple(choice) for choice in variant.choices)
        titled = titles_of(titles, variant.summaries)
        rows.append(
            VariantRow(
                variant.position, variant.summaries, choices, sum(counts.values()), titled, in_order(counts)
            )
        )
    unmatched = 0
    for group in counted:
        if group.position is None and DeliveryStatus.unmatched in group.counts:
            unmatched += group.recipients
        elif group.position is None:
            # A send from before topics: everyone got the issue's own email, every summary.
            whole = ",".join(map(str, titles))
            everyone = in_order(group.counts)
            rows.append(VariantRow(1, whole, ((),), group.recipients, tuple(titles.values()), everyone))
    return VariantReport(issue.number, issue.status, tuple(rows), unmatched, ())


def titles_of(titles: dict[int, str], key: str) -> tuple[str, ...]:
    """The titles of the summaries a variant key names, in its (the issue's) order."""
    return tuple(titles.get(summary_id, f"summary {summary_id}") for summary_id in parse_key(key))


def in_order(counts: dict[str, int]) -> tuple[tuple[str, int], ...]:
    return tuple((str(status), counts[status]) for status in STATUSES if counts.get(status))


def variant_email(
    session: Session, renderer: Renderer, issue: Issue, key: str
) -> tuple[VariantRow, VariantEmail]:
    """Variant ``key`` of ``issue`` (as ``report`` shows it) and its email; ``NotFound`` for a key that
    names none of the issue's variants."""
    found = report(session, issue).find(key)
    if found is None:
        raise NotFound(f"{key!r} names no variant of issue {issue.number}: {why_not(session, issue, key)}")
    return found, email_for_key(session, renderer, issue, key)


def why_not(session: Session, issue: Issue, key: str) -> str:
    if issue.status == IssueStatus.cancelled:
        return "it was cancelled, so it has none"
    try:
        summary_ids = parse_key(key)
    except ValueError:
        return "a variant is named by its summary ids separated by commas, as in the issue page's links"
    held = {item.summary_id for item in items_of(session, issue)}
    outside = [summary_id for summary_id in summary_ids if summary_id not in held]
    if outside:
        return f"the issue does not hold summary {outside[0]}"
    if issue.status in PUBLISHED:
        return "no subscriber got exactly those summaries"
    return "no subscriber's topics select exactly those summaries now"
