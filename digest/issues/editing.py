"""An editor's changes to a draft or held issue: the order of its items, dropping items, the subject, the
preheader and the note. Each change re-renders the issue at once (the stored email is what is sent) and is
recorded in the audit trail.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from digest.core.summary import no_control_characters
from digest.db.models import Issue, IssueItem, Summary
from digest.errors import InvalidInput, InvalidState
from digest.issues.compose import EDITABLE, refresh_announcement, render_and_store
from digest.issues.decisions import record
from digest.issues.queries import get_issue
from digest.rendering import Renderer

NOTE_LIMIT = 2000
SUBJECT_LIMIT = 200
PREHEADER_LIMIT = 200


@dataclass(frozen=True)
class ItemRow:
    summary_id: int
    title: str
    url: str
    featured: bool
    topics: frozenset[str] = frozenset()


def items_of(session: Session, issue: Issue) -> list[ItemRow]:
    query = (
        select(IssueItem, Summary)
        .join(Summary, col(Summary.id) == col(IssueItem.summary_id))
        .where(IssueItem.issue_id == issue.id)
        .order_by(col(IssueItem.position))
    )
    return [
        ItemRow(summary.id or 0, summary.display_title, summary.url, item.featured, frozenset(summary.topics))
        for item, summary in session.exec(query)
    ]


def editable(session: Session, number: int) -> Issue:
    """Issue ``number``, locked for this transaction on PostgreSQL so two editors' changes take turns."""
    issue = session.exec(select(Issue).where(Issue.number == number).with_for_update()).first()
    if issue is None:
        issue = get_issue(session, number)  # raises NotFound
    if issue.status not in EDITABLE:
        raise InvalidState(f"issue {number} is {issue.status}; only a draft or held issue can be edited")
    return issue


def arrange(
    session: Session,
    renderer: Renderer,
    number: int,
    order: list[int],
    *,
    by: str,
    now: datetime,
    shown: list[int] | None = None,
) -> Issue:
    """Keep the items whose summary ids are in ``order``, in that order; drop the rest.

    ``shown`` is the order the editor saw; a different current order is refused rather than overwritten.
    As many items as were shown in full stay shown in full, counted from the top, so moving an item of
    "More this week" up shows it in full.
    """
    issue = editable(session, number)
    rows = list(session.exec(select(IssueItem).where(IssueItem.issue_id == issue.id)))
    current = [row.summary_id for row in sorted(rows, key=lambda row: row.position)]
    if shown is not None and shown != current:  # another editor changed them since the page was served
        raise InvalidState("the items changed since this page was loaded: reload it and try again")
    by_summary = {row.summary_id: row for row in rows}
    if len(set(order)) != len(order) or not set(order) <= set(by_summary):
        raise InvalidInput("the new order must name items of this issue, each once")
    if not order:
        raise InvalidInput("an issue needs at least one item: cancel the issue instead")
    featured = sum(row.featured for row in rows)
    automatic = announces_itself(session, issue, renderer)
    dropped = [row for row in rows if row.summary_id not in order]
    for row in dropped:
        session.delete(row)
    # Positions are unique per issue: park the kept rows on negative positions first.
    for index, summary_id in enumerate(order):
        by_summary[summary_id].position = -1 - index
        session.add(by_summary[summary_id])
    session.flush()
    for index, summary_id in enumerate(order):
        row = by_summary[summary_id]
        row.position = index
        row.featured = index < max(1, featured)
        session.add(row)
    session.flush()
    if automatic:  # the subject and preheader quote the top item: follow the new order
        refresh_announcement(session, issue, renderer.language)
    detail = "order " + " ".join(str(summary_id) for summary_id in order)
    if dropped:
        detail += "; dropped " + " ".join(str(row.summary_id) for row in dropped)
    return changed(session, renderer, issue, by=by, now=now, action="arrange", detail=detail)


def announces_itself(session: Session, issue: Issue, renderer: Renderer) -> bool:
    """Whether the subject and preheader are still the ones compose wrote (no editor changed them)."""
    written = (issue.subject, issue.preheader)
    refresh_announcement(session, issue, renderer.language)
    automatic = (issue.subject, issue.preheader) == written
    issue.subject, issue.preheader = written
    return automatic


def edit_words(
    session: Session,
    renderer: Renderer,
    number: int,
    *,
    subject: str,
    preheader: str,
    note: str,
    by: str,
    now: datetime,
) -> Issue:
    """Set the subject, preheader and note (Markdown, sanitised when rendered)."""
    subject, preheader, note = (" ".join(subject.split()), " ".join(preheader.split()), note.strip())
    note = note.replace("\r\n", "\n")
    if not subject or len(subject) > SUBJECT_LIMIT:
        raise InvalidInput(f"the subject must have between 1 and {SUBJECT_LIMIT} characters")
    if len(preheader) > PREHEADER_LIMIT:
        raise InvalidInput(f"the preheader must have at most {PREHEADER_LIMIT} characters")
    if len(note) > NOTE_LIMIT:
        raise InvalidInput(f"the note must have at most {NOTE_LIMIT} characters")
    for name, value in (("subject", subject), ("preheader", preheader), ("note", note)):
        try:
            no_control_characters(value)  # plain text, as in summaries; PostgreSQL refuses U+0000
        except ValueError as exc:
            raise InvalidInput(f"the {name} {exc}") from None
    issue = editable(session, number)
    fields = [
        name
        for name, value in (("subject", subject), ("preheader", preheader), ("note", note))
        if getattr(issue, name) != value
    ]
    if not fields:
        return issue
    issue.subject, issue.preheader, issue.note = subject, preheader, note
    return changed(session, renderer, issue, by=by, now=now, action="edit", detail=", ".join(fields))


def changed(
    session: Session, renderer: Renderer, issue: Issue, *, by: str, now: datetime, action: str, detail: str
) -> Issue:
    issue.updated_at = now
    render_and_store(session, renderer, issue)
    record(session, issue.number, by=by, action=action, now=now, detail=detail)
    return issue
