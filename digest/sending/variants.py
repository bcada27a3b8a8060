"""An issue's variants: which of its summaries each subscriber gets, by the topics they chose.

``plan`` says what a send started now would produce (the editor shows it); ``fix`` is what starting the
send does: it renders each variant once, stores it (``IssueVariant``) and says which stored topic
choices get which variant, for the ledger to write one delivery per subscriber with its variant.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, func, select

from digest.core.topics import Item, VariantPlan, encode, parse_key, plan
from digest.db.models import DeliveryStatus, Issue, IssueVariant
from digest.errors import NotFound
from digest.issues import editing
from digest.issues.compose import issue_view
from digest.rendering import RenderedEmail, Renderer
from digest.sending.ledger import Audience
from digest.subscribers.topics import active_choices


@dataclass(frozen=True)
class VariantEmail:
    subject: str
    preheader: str
    html: str
    text: str
    markers: str  # the key of its render's per-recipient markers


def items_of(session: Session, issue: Issue) -> list[Item]:
    """The issue's summaries in order, with their topics."""
    return [Item(row.summary_id, row.topics) for row in editing.items_of(session, issue)]


def plan_for(
    session: Session, issue: Issue, choices: dict[tuple[str, ...], int] | None = None
) -> list[VariantPlan]:
    """The variants a send of ``issue`` started now would produce, largest audience first."""
    return plan(items_of(session, issue), active_choices(session) if choices is None else choices)


def email_for(
    session: Session, renderer: Renderer, issue: Issue, summary_ids: tuple[int, ...]
) -> VariantEmail:
    """The email of the variant holding ``summary_ids``: the issue's own when it holds them all, else
    rendered (once: ``fix`` stores it) through the same path as the issue."""
    if not summary_ids:
        raise NotFound(
            f"issue {issue.number} has no variant without summaries: those subscribers get no email"
        )
    every = tuple(item.summary_id for item in items_of(session, issue))
    unknown = set(summary_ids) - set(every)
    if unknown:
        raise NotFound(f"issue {issue.number} does not hold summary {min(unknown)}")
    if summary_ids == every:
        return VariantEmail(issue.subject, issue.preheader, issue.html, issue.text, issue.markers)
    view = issue_view(session, issue, only=set(summary_ids), language=renderer.language)
    rendered: RenderedEmail = renderer.render_issue(view)
    return VariantEmail(view.subject, view.preheader, rendered.html, rendered.text, rendered.markers)


def email_for_key(session: Session, renderer: Renderer, issue: Issue, key: str) -> VariantEmail:
    """As ``email_for``, by the variant's key (``"12,15,19"``), the stored rendering once the send started."""
    try:
        summary_ids = parse_key(key)
    except ValueError:
        raise NotFound(f"{key!r} names no variant: expected summary ids separated by commas") from None
    kept = session.exec(
        select(IssueVariant).where(IssueVariant.issue_id == issue.id, IssueVariant.summaries == key)
    ).first()
    if kept is not None:
        return VariantEmail(kept.subject, kept.preheader, kept.html, kept.text, kept.markers)
    return email_for(session, renderer, issue, summary_ids)


def stored(session: Session, issue: Issue) -> list[IssueVariant]:
    """The variants fixed when the send of ``issue`` started, by position (none before it starts)."""
    query = select(IssueVariant).where(IssueVariant.issue_id == issue.id).order_by(col(IssueVariant.position))
    return list(session.exec(query))


def fix(
    session: Session,
    renderer: Renderer,
    issue: Issue,
    choices: dict[tuple[str, ...], int],
    *,
    now: datetime,
) -> list[Audience]:
    """Render and store the variants ``choices`` call for (reusing those stored already), and return
    who gets which. Called with the choices of the subscribers a send has not yet written down."""
    kept = {variant.summaries: variant for variant in stored(session, issue)}
    position = max((variant.position for variant in kept.values()), default=0)
    audiences: list[Audience] = []
    for variant in plan_for(session, issue, choices):
        members = tuple(encode(choice) for choice in variant.choices)
        if variant.empty:
            audiences.append(Audience(None, DeliveryStatus.unmatched, members))
            continue
        row = kept.get(variant.key)
        if row is None:
            email = email_for(session, renderer, issue, variant.summary_ids)
            position += 1
            row = IssueVariant(
                issue_id=issue.id or 0,
                position=position,
                summaries=variant.key,
                choices=[list(choice) for choice in variant.choices],
                subscribers=variant.subscribers,
                subject=email.subject,
                preheader=email.preheader,
                html=email.html,
                text=email.text,
                markers=email.markers,
                created_at=now,
            )
        else:
            new = [list(choice) for choice in variant.choices if list(choice) not in row.choices]
            row.choices = [*row.choices, *new]
            row.subscribers += variant.subscribers
        session.add(row)
        session.flush()
        kept[variant.key] = row
        audiences.append(Audience(row.id, DeliveryStatus.pending, members))
    return audiences


def count(session: Session, issue: Issue) -> int:
    return int(
        session.exec(
            select(func.count()).select_from(IssueVariant).where(IssueVariant.issue_id == issue.id)
        ).one()
    )
